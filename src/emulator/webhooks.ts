/**
 * Webhook delivery as Strava does it: POST the event JSON to the subscription's callback, 2-second timeout,
 * up to 3 attempts in total when the answer is not 200. Faults (drop, duplicate, extra delay, reordering) are
 * decided with the seeded PRNG so a run is reproducible. Retry spacing is configurable: Strava waits about
 * 1-2 minutes, far too slow for tests.
 */
import type { Counters } from './counters.js';
import type { FaultSettings } from './faults.js';
import type { Random } from './prng.js';

export interface PushSubscription {
  id: number;
  resource_state: 2;
  application_id: number;
  callback_url: string;
  created_at: string;
  updated_at: string;
}

export interface StravaEvent {
  object_type: 'activity' | 'athlete';
  object_id: number;
  aspect_type: 'create' | 'update' | 'delete';
  /** Absent when the webhookOmitEmptyUpdates fault is on and there is nothing to say (create, delete). */
  updates?: Record<string, string>;
  owner_id: number;
  subscription_id: number;
  event_time: number;
}

export interface DeliveryRecord {
  event: StravaEvent;
  duplicate: boolean;
  dropped: boolean;
  /**
   * One entry per POST: the HTTP status, or an error name (timeout, connection refused); sentAtMs when the POST
   * went out, atMs when its answer (or failure) came back.
   */
  attempts: { status?: number; error?: string; sentAtMs: number; atMs: number }[];
  outcome: 'pending' | 'delivered' | 'failed' | 'dropped';
}

export interface WebhookSettings {
  timeoutMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  /** Deliveries kept in the log. */
  logLimit: number;
}

export class WebhookDispatcher {
  subscription: PushSubscription | undefined;
  readonly log: DeliveryRecord[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private inflight = new Set<AbortController>();
  private closed = false;
  /** Bumped by cancelAll so callbacks of forgotten deliveries do nothing. */
  private generation = 0;

  constructor(
    private readonly settings: WebhookSettings,
    private readonly faults: () => FaultSettings,
    private readonly random: () => Random,
    private readonly counters: () => Counters,
  ) {}

  /** Sends an event to the subscription (if any), applying the configured faults. */
  emit(event: Omit<StravaEvent, 'subscription_id' | 'updates'> & { updates: Record<string, string> }): void {
    const counters = this.counters().webhooks;
    const subscription = this.subscription;
    if (!subscription) {
      counters.withoutSubscription++;
      return;
    }
    counters.events++;
    // Key order is Strava's documented payload order.
    const faults = this.faults();
    const omitUpdates = faults.webhookOmitEmptyUpdates && Object.keys(event.updates).length === 0;
    const payload: StravaEvent = {
      object_type: event.object_type,
      object_id: event.object_id,
      aspect_type: event.aspect_type,
      ...(omitUpdates ? {} : { updates: event.updates }),
      owner_id: event.owner_id,
      subscription_id: subscription.id,
      event_time: event.event_time,
    };
    // Always draw all three numbers so one fault's rate does not shift the others' decisions.
    const random = this.random();
    const dropRoll = random();
    const duplicateRoll = random();
    const reorderRoll = random();
    if (dropRoll < faults.webhookDropRate) {
      counters.dropped++;
      this.record({ event: payload, duplicate: false, dropped: true, attempts: [], outcome: 'dropped' });
      return;
    }
    const delay = faults.webhookDelayMs + (reorderRoll < faults.webhookReorderRate ? faults.webhookReorderDelayMs : 0);
    this.schedule(subscription.callback_url, payload, false, delay);
    if (duplicateRoll < faults.webhookDuplicateRate) {
      counters.duplicated++;
      this.schedule(subscription.callback_url, payload, true, delay + faults.webhookDuplicateDelayMs);
    }
  }

  private record(delivery: DeliveryRecord): void {
    this.log.push(delivery);
    if (this.log.length > this.settings.logLimit) this.log.splice(0, this.log.length - this.settings.logLimit);
  }

  private schedule(url: string, event: StravaEvent, duplicate: boolean, delayMs: number): void {
    const counters = this.counters().webhooks;
    counters.deliveries++;
    counters.pending++;
    const delivery: DeliveryRecord = { event, duplicate, dropped: false, attempts: [], outcome: 'pending' };
    this.record(delivery);
    this.later(delayMs, () => void this.attempt(url, delivery));
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private async attempt(url: string, delivery: DeliveryRecord): Promise<void> {
    if (this.closed) return;
    const generation = this.generation;
    const counters = this.counters().webhooks;
    counters.attempts++;
    const controller = new AbortController();
    this.inflight.add(controller);
    const timeout = setTimeout(() => controller.abort(new Error('timeout')), this.settings.timeoutMs);
    const sentAtMs = Date.now();
    let ok = false;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'strava-emulator-webhooks' },
        body: JSON.stringify(delivery.event),
        signal: controller.signal,
      });
      // Read the body (within the timeout) so the connection is released.
      await response.arrayBuffer();
      delivery.attempts.push({ status: response.status, sentAtMs, atMs: Date.now() });
      ok = response.status === 200;
    } catch (error) {
      delivery.attempts.push({ error: controller.signal.aborted ? 'timeout' : error instanceof Error ? error.message : String(error), sentAtMs, atMs: Date.now() });
    } finally {
      clearTimeout(timeout);
      this.inflight.delete(controller);
    }
    if (this.closed || generation !== this.generation) return;
    if (ok) {
      delivery.outcome = 'delivered';
      counters.delivered++;
      counters.pending--;
    } else if (delivery.attempts.length < this.settings.maxAttempts) {
      this.later(this.settings.retryDelayMs, () => void this.attempt(url, delivery));
    } else {
      delivery.outcome = 'failed';
      counters.failed++;
      counters.pending--;
    }
  }

  /** Forgets scheduled deliveries (reset, close). */
  cancelAll(): void {
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inflight) controller.abort(new Error('emulator reset'));
    this.inflight.clear();
    this.log.length = 0;
  }

  close(): void {
    this.closed = true;
    this.cancelAll();
  }
}
