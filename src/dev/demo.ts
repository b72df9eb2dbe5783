/**
 * The `npm start` demo on the emulator: creates a few athletes, connects them through the API's real OAuth flow
 * (so their workflows import their history), then keeps changing their data at a gentle pace (a new activity, an
 * edit, a delete, a privacy flip) so the management page, the Temporal UI and the activities API show webhooks
 * being applied as they happen. It changes the emulator only; everything else is the real system reacting.
 */
import type { EmulatorActivity, EmulatorControl } from '../emulator/control-client.js';
import { connectThroughOAuth } from './oauth-connect.js';

export type DemoChangeKind = 'create' | 'edit' | 'delete' | 'privacy';

export interface DemoChange {
  kind: DemoChangeKind;
  athleteId: number;
  activityId: number;
  /** One line for the terminal. */
  summary: string;
}

export interface DemoAthlete {
  id: number;
  name: string;
}

export interface DemoOptions {
  emulator: EmulatorControl;
  apiUrl: string;
  athletes?: number;
  /** Generated history of each demo athlete, imported when it connects. */
  activitiesPerAthlete?: number;
  /** [0, 1) source for every choice; Math.random unless a test wants a sequence. */
  random?: () => number;
  /** Ids for the new athletes; the emulator picks them unless given (tests give run-unique ids, because workflow
   * ids are shared by every test on one Temporal server). */
  newAthleteId?: () => number;
}

const FIRST_NAMES = ['Ada', 'Bruno', 'Chidi', 'Dana', 'Emil', 'Farah'];
const LAST_NAMES = ['Demo', 'Sample', 'Example'];
const WORKOUTS = [
  { sport_type: 'Run', names: ['Morning Run', 'Lunch Run', 'Tempo Run', 'Easy Run'], speed: 3, distance: true },
  { sport_type: 'Ride', names: ['Evening Ride', 'Gravel Loop', 'Commute'], speed: 7, distance: true },
  { sport_type: 'Swim', names: ['Pool Swim', 'Open Water'], speed: 1, distance: true },
  { sport_type: 'WeightTraining', names: ['Strength Session'], speed: 0, distance: false },
] as const;
const EDITED_NAMES = ['Felt great', 'Windy one', 'New shoes', 'Recovery', 'Personal best!', 'With the club'];
// A change a few seconds apart is gentle on the rate budget: creates and edits cost one read each (the workflow
// fetches the activity the webhook names), deletes and privacy flips to private cost none.
const WEIGHTS: [DemoChangeKind, number][] = [['create', 0.35], ['edit', 0.3], ['privacy', 0.2], ['delete', 0.15]];

export class Demo {
  private readonly random: () => number;
  readonly athletes: DemoAthlete[] = [];

  constructor(private readonly options: DemoOptions) {
    this.random = options.random ?? Math.random;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  /** Creates the demo athletes in the emulator and connects each through the API's OAuth flow. */
  async connectAthletes(): Promise<DemoAthlete[]> {
    const count = this.options.athletes ?? 3;
    for (let i = 0; i < count; i++) {
      const created = await this.options.emulator.createAthlete({
        id: this.options.newAthleteId?.(),
        firstname: FIRST_NAMES[i % FIRST_NAMES.length],
        lastname: LAST_NAMES[i % LAST_NAMES.length],
        activities: this.options.activitiesPerAthlete ?? 60,
      });
      await connectThroughOAuth(this.options.apiUrl, created.id);
      this.athletes.push({ id: created.id, name: `${created.firstname} ${created.lastname}` });
    }
    return this.athletes;
  }

  /** Makes one change to one demo athlete's data in the emulator (which sends Strava's webhook for it). */
  async step(): Promise<DemoChange> {
    if (this.athletes.length === 0) throw new Error('the demo has no athletes: connectAthletes() first');
    const athlete = this.pick(this.athletes);
    // Only the newest activities change, so the changes show at the top of the lists.
    const recent = (await this.options.emulator.groundTruth(athlete.id, { readAll: true })).slice(0, 20);
    let kind = this.chooseKind();
    if (recent.length === 0) kind = 'create';
    if (kind === 'create') return this.create(athlete);
    const activity = this.pick(recent);
    if (kind === 'edit') return this.edit(athlete, activity);
    if (kind === 'privacy') return this.flipPrivacy(athlete, activity);
    await this.options.emulator.deleteActivity(activity.id);
    return { kind, athleteId: athlete.id, activityId: activity.id, summary: `${athlete.name} deleted "${activity.name}" (${activity.id})` };
  }

  private chooseKind(): DemoChangeKind {
    let roll = this.random();
    for (const [kind, weight] of WEIGHTS) {
      if (roll < weight) return kind;
      roll -= weight;
    }
    return 'create';
  }

  private async create(athlete: DemoAthlete): Promise<DemoChange> {
    const workout = this.pick(WORKOUTS);
    const movingTime = 1_200 + Math.floor(this.random() * 3_600);
    const now = await this.options.emulator.now();
    const distance = workout.distance ? Math.round(movingTime * workout.speed * (0.8 + this.random() * 0.4)) : 0;
    const activity = await this.options.emulator.createActivity(athlete.id, {
      name: this.pick(workout.names),
      sport_type: workout.sport_type,
      start_date: new Date(now - (movingTime + 60) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      moving_time: movingTime,
      elapsed_time: movingTime + 60,
      distance,
    });
    const size = distance ? `${(distance / 1000).toFixed(1)} km` : `${Math.round(movingTime / 60)} min`;
    return { kind: 'create', athleteId: athlete.id, activityId: activity.id, summary: `${athlete.name} recorded "${activity.name}" (${activity.id}, ${size})` };
  }

  private async edit(athlete: DemoAthlete, activity: EmulatorActivity): Promise<DemoChange> {
    const name = this.pick(EDITED_NAMES.filter((candidate) => candidate !== activity.name));
    await this.options.emulator.updateActivity(activity.id, { name });
    return { kind: 'edit', athleteId: athlete.id, activityId: activity.id, summary: `${athlete.name} renamed "${activity.name}" to "${name}" (${activity.id})` };
  }

  private async flipPrivacy(athlete: DemoAthlete, activity: EmulatorActivity): Promise<DemoChange> {
    const toPrivate = !activity.private;
    await this.options.emulator.updateActivity(activity.id, { private: toPrivate });
    return { kind: 'privacy', athleteId: athlete.id, activityId: activity.id,
      summary: `${athlete.name} made "${activity.name}" ${toPrivate ? 'private' : 'public'} (${activity.id})` };
  }

  /** Calls step() every intervalMs until stopped; one line per change (or per failed change) goes to log. */
  run(intervalMs: number, log: (line: string) => void): { stop(): Promise<void> } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    const tick = () => {
      inFlight = this.step().then(
        (change) => log(change.summary),
        (error: unknown) => log(`change failed: ${error instanceof Error ? error.message : String(error)}`),
      ).finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
    };
    timer = setTimeout(tick, intervalMs);
    return {
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await inFlight;
      },
    };
  }
}
