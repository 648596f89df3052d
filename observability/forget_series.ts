/**
 * Dropping the series of a deleted topic or subscription, so that objects
 * created and deleted over a node's life do not leave their counters in
 * `/metrics` forever.
 *
 * @module
 */

import type { Counter, Gauge } from "prom-client";

/**
 * Removes every series of `metric` whose label `label` is `value`, whatever
 * its other labels (a rejected-publish counter's reasons, say).
 */
export async function forgetSeries<T extends string>(
  metric: Counter<T> | Gauge<T>,
  label: T,
  value: string,
): Promise<void> {
  for (const series of (await metric.get()).values) {
    if (series.labels[label] === value) metric.remove(series.labels);
  }
}
