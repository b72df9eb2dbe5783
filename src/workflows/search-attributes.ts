import { defineSearchAttributeKey } from '@temporalio/common';

/** Custom search attributes every athlete workflow keeps current (registered on the server by name and type). */
export const SEARCH_ATTRIBUTES = {
  StravaAthleteId: 'Keyword',
  SyncState: 'Keyword',
  LastSyncAt: 'Datetime',
  /** The settings version the workflow applied: `SettingsVersion < N` finds the ones a change has not reached. */
  SettingsVersion: 'Int',
} as const;

export const stravaAthleteIdKey = defineSearchAttributeKey('StravaAthleteId', 'KEYWORD');
export const syncStateKey = defineSearchAttributeKey('SyncState', 'KEYWORD');
export const lastSyncAtKey = defineSearchAttributeKey('LastSyncAt', 'DATETIME');
export const settingsVersionKey = defineSearchAttributeKey('SettingsVersion', 'INT');
