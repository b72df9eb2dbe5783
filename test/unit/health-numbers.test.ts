import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../src/activities/run-recorder.js';
import { rate, toWindowHealth } from '../../src/api/admin/health.js';
import type { WindowCounts } from '../../src/db/repositories/sync-health.js';
import { newestReceipt } from '../../src/domain/sync-history.js';
import { NeedsReauthError, RateBudgetExhaustedError, StravaAppForbiddenError, StravaBadRequestError, StravaInvalidResponseError, StravaServerError } from '../../src/strava/errors.js';
import { refreshFailureOf } from '../../src/strava/token-vault.js';

const empty: WindowCounts = {
  webhookDelivery: { viaWebhook: 0, repairs: 0 },
  backfillCompletion: { due: 0, completed: 0, late: 0, failed: 0 },
  tokenRefresh: { attempted: 0, succeeded: 0, refused: 0, networkFailed: 0 },
  latency: { eventToRow: { count: 0, p50: null, p95: null, p99: null }, receiptToRow: { count: 0, p50: null, p95: null, p99: null } },
};

describe('health rates', () => {
  it('divides, and says null rather than inventing a rate when there is nothing to divide', () => {
    expect(rate(3, 4)).toBe(0.75);
    expect(rate(0, 5)).toBe(0);
    expect(rate(5, 5)).toBe(1);
    expect(rate(0, 0)).toBeNull();
    expect(rate(1, Number.NaN)).toBeNull();
  });

  it('an empty window has no rate and no latency', () => {
    expect(toWindowHealth(empty)).toEqual({
      webhookDelivery: { viaWebhook: 0, repairs: 0, rate: null },
      backfillCompletion: { due: 0, completed: 0, late: 0, failed: 0, rate: null },
      tokenRefresh: { attempted: 0, succeeded: 0, refused: 0, networkFailed: 0, rate: null },
      latency: { eventToRow: null, receiptToRow: null },
    });
  });

  it('webhook delivery: changes by webhook over those plus the repairs', () => {
    const health = toWindowHealth({ ...empty, webhookDelivery: { viaWebhook: 9, repairs: 3 } });
    expect(health.webhookDelivery).toEqual({ viaWebhook: 9, repairs: 3, rate: 0.75 });
    // Only repairs: every change was missed by the webhooks.
    expect(toWindowHealth({ ...empty, webhookDelivery: { viaWebhook: 0, repairs: 2 } }).webhookDelivery.rate).toBe(0);
  });

  it('backfill completion: completed over due, late and failed counting against it', () => {
    const health = toWindowHealth({ ...empty, backfillCompletion: { due: 8, completed: 5, late: 2, failed: 1 } });
    expect(health.backfillCompletion).toEqual({ due: 8, completed: 5, late: 2, failed: 1, rate: 0.625 });
  });

  it('token refresh: succeeded over attempted, refusals and network failures kept apart', () => {
    const health = toWindowHealth({ ...empty, tokenRefresh: { attempted: 10, succeeded: 7, refused: 1, networkFailed: 2 } });
    expect(health.tokenRefresh).toEqual({ attempted: 10, succeeded: 7, refused: 1, networkFailed: 2, rate: 0.7 });
  });

  it('latency: the summary when the window holds samples, null otherwise', () => {
    const eventToRow = { count: 2, p50: 1500, p95: 1950, p99: 1990 };
    const health = toWindowHealth({ ...empty, latency: { eventToRow, receiptToRow: { count: 0, p50: null, p95: null, p99: null } } });
    expect(health.latency).toEqual({ eventToRow, receiptToRow: null });
  });
});

describe('how a failed attempt is recorded', () => {
  const policy = { attempt: 2, maximumAttempts: 6, nonRetryable: [] as string[] };

  it('a rate limit and the failures the workflow handles settle the run at once', () => {
    expect(classifyFailure(new RateBudgetExhaustedError(60_000, 'window'), policy)).toEqual({ failureType: 'RateLimited', willRetry: false });
    expect(classifyFailure(new NeedsReauthError(1, 'refresh_token_invalid'), policy)).toEqual({ failureType: 'NeedsReauth', willRetry: false });
    expect(classifyFailure(new StravaAppForbiddenError('403'), policy)).toEqual({ failureType: 'AppForbidden', willRetry: false });
    expect(classifyFailure(ApplicationFailure.create({ type: 'Whatever', nonRetryable: true }), policy)).toEqual({ failureType: 'Whatever', willRetry: false });
  });

  it('a 5xx is retried by Temporal until the last attempt', () => {
    expect(classifyFailure(new StravaServerError('502'), policy)).toEqual({ failureType: 'StravaServerError', willRetry: true });
    expect(classifyFailure(new StravaServerError('502'), { ...policy, attempt: 6 })).toEqual({ failureType: 'StravaServerError', willRetry: false });
    expect(classifyFailure(new Error('db down'), { attempt: 40, maximumAttempts: undefined, nonRetryable: [] })).toEqual({ failureType: 'Error', willRetry: true });
  });
});

describe('how a failed token refresh is told apart', () => {
  it('a 4xx answer is a refusal', () => {
    const badToken = new StravaBadRequestError('400', { status: 400, errors: [{ resource: 'RefreshToken', field: 'refresh_token', code: 'invalid' }] });
    expect(refreshFailureOf(badToken)).toEqual({ outcome: 'refused', errorKind: 'bad_request', httpStatus: 400 });
    expect(refreshFailureOf(new StravaAppForbiddenError('401', { status: 401 }))).toEqual({ outcome: 'refused', errorKind: 'app_forbidden', httpStatus: 401 });
  });

  it('no answer, a 5xx or an unreadable body is a network failure', () => {
    expect(refreshFailureOf(new StravaServerError('timed out'))).toEqual({ outcome: 'network_failed', errorKind: 'server_error', httpStatus: null });
    expect(refreshFailureOf(new StravaServerError('503', { status: 503 }))).toEqual({ outcome: 'network_failed', errorKind: 'server_error', httpStatus: 503 });
    expect(refreshFailureOf(new StravaInvalidResponseError('not a token', { status: 200 }))).toEqual({ outcome: 'network_failed', errorKind: 'invalid_response', httpStatus: 200 });
    expect(refreshFailureOf(new TypeError('fetch failed'))).toEqual({ outcome: 'network_failed', errorKind: 'unknown', httpStatus: null });
  });
});

describe('the receipt a fetch measures', () => {
  it('is the newest receipt among the events at the answered event time', () => {
    const events = [
      { eventTime: 100, receivedAt: 100_500 },
      { eventTime: 105, receivedAt: 106_000 },
      { eventTime: 105, receivedAt: 107_000 },
      { eventTime: 105 },
    ];
    expect(newestReceipt(events, 105)).toBe(107_000);
    expect(newestReceipt(events, 100)).toBe(100_500);
    expect(newestReceipt([{ eventTime: 105 }], 105)).toBeUndefined();
  });
});
