/**
 * Typed errors of the actor runtime. Each sets `name` and carries the data a
 * caller needs to react (the HTTP layer maps `MailboxFullError` to a 503 with
 * `Retry-After`, `AskTimeoutError` to a 504, and so on).
 *
 * @module
 */

/** A `tell` or `ask` found the actor's bounded mailbox full. */
export class MailboxFullError extends Error {
  override readonly name = "MailboxFullError";
  /** Name of the actor whose mailbox is full. */
  readonly actor: string;
  /** Capacity of that mailbox. */
  readonly capacity: number;

  /** Creates the error for `actor` with a mailbox of `capacity`. */
  constructor(actor: string, capacity: number) {
    super(`Mailbox of actor "${actor}" is full (capacity ${capacity})`);
    this.actor = actor;
    this.capacity = capacity;
  }
}

/** An `ask` got no reply before its deadline. */
export class AskTimeoutError extends Error {
  override readonly name = "AskTimeoutError";
  /** Name of the actor that was asked. */
  readonly actor: string;
  /** `type` of the message that was not answered. */
  readonly messageType: string;
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  /** Creates the error for an unanswered `messageType` sent to `actor`. */
  constructor(actor: string, messageType: string, timeoutMs: number) {
    super(
      `Actor "${actor}" did not answer "${messageType}" within ${timeoutMs} ms`,
    );
    this.actor = actor;
    this.messageType = messageType;
    this.timeoutMs = timeoutMs;
  }
}

/** An `ask` failed because its message made the actor panic (poison, or a temporary actor). */
export class ActorPanicError extends Error {
  override readonly name = "ActorPanicError";
  /** Name of the actor that panicked. */
  readonly actor: string;
  /** `type` of the message it panicked on. */
  readonly messageType: string;

  /** Creates the error for `actor` panicking on `messageType`. */
  constructor(actor: string, messageType: string, options?: ErrorOptions) {
    super(`Actor "${actor}" panicked on "${messageType}"`, options);
    this.actor = actor;
    this.messageType = messageType;
  }
}

/** The actor (or the whole system) is stopped and takes no more messages. */
export class ActorStoppedError extends Error {
  override readonly name = "ActorStoppedError";
  /** Name of the stopped actor. */
  readonly actor: string;

  /** Creates the error for the stopped `actor`. */
  constructor(actor: string) {
    super(`Actor "${actor}" is stopped`);
    this.actor = actor;
  }
}
