/**
 * The RabbitMQ baselines at 127.0.0.1:5672 (guest/guest): persistent
 * publishes with publisher confirms from `publishers` concurrent publishers
 * (each its own channel in confirm mode, awaiting every `basicPublish`), then
 * a consumer with manual acks and a prefetch of `prefetch` draining what was
 * published. The bench queue (durable) is deleted afterwards.
 *
 * @module
 */

import { AMQPClient } from "@cloudamqp/amqp-client";
import { makeBody } from "../wrk.ts";

/** Options of {@linkcode rabbitmqBaseline}. */
export interface RabbitOptions {
  url: string;
  publishers: number;
  durationSec: number;
  bodyBytes: number;
  prefetch: number;
}

/** Messages per second published (confirmed) and consumed (acked). */
export interface RabbitResult {
  publishPerSec: number;
  consumePerSec: number;
  published: number;
  consumed: number;
}

/** Is a broker listening at `url`? */
export async function rabbitmqReachable(url: string): Promise<string | null> {
  try {
    const client = new AMQPClient(url);
    const conn = await client.connect();
    await conn.close();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Runs the publish then the consume baseline. */
export async function rabbitmqBaseline(
  options: RabbitOptions,
): Promise<RabbitResult> {
  const queue = `miranda-bench-${crypto.randomUUID()}`;
  const body = new TextEncoder().encode(makeBody(options.bodyBytes));
  const client = new AMQPClient(options.url);
  const conn = await client.connect();
  try {
    const admin = await conn.channel();
    await admin.queueDeclare(queue, { durable: true, autoDelete: false });
    const channels = await Promise.all(
      Array.from({ length: options.publishers }, async () => {
        const ch = await conn.channel();
        await ch.confirmSelect();
        return ch;
      }),
    );
    let published = 0;
    const deadline = performance.now() + options.durationSec * 1000;
    const started = performance.now();
    await Promise.all(channels.map(async (ch) => {
      while (performance.now() < deadline) {
        await ch.basicPublish("", queue, body, { deliveryMode: 2 });
        published++;
      }
    }));
    const publishSeconds = (performance.now() - started) / 1000;
    await Promise.all(channels.map((ch) => ch.close()));

    const consumer = await conn.channel();
    await consumer.basicQos(options.prefetch);
    let consumed = 0;
    const drained = Promise.withResolvers<void>();
    const consumeStarted = performance.now();
    const tag = await consumer.basicConsume(
      queue,
      { noAck: false },
      async (msg) => {
        await msg.ack();
        consumed++;
        if (consumed === published) drained.resolve();
      },
    );
    const timer = setTimeout(
      () =>
        drained.reject(new Error(`Consumed only ${consumed} of ${published}`)),
      120_000,
    );
    try {
      await drained.promise;
    } finally {
      clearTimeout(timer);
    }
    const consumeSeconds = (performance.now() - consumeStarted) / 1000;
    await tag.cancel();
    await admin.queueDelete(queue);
    return {
      publishPerSec: published / publishSeconds,
      consumePerSec: consumed / consumeSeconds,
      published,
      consumed,
    };
  } finally {
    try {
      const ch = await conn.channel();
      await ch.queueDelete(queue);
    } catch { /* already deleted or connection gone */ }
    await conn.close().catch(() => {});
  }
}
