import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import { requireAdminKey } from '../auth/admin-key.js';
import { errorBody, HttpError } from '../http/errors.js';
import { createSubscriptionQuerySchema } from './schemas.js';
import { SubscriptionError, type SubscriptionService } from './service.js';

export const SUBSCRIPTION_PATH = '/admin/subscription';

export interface SubscriptionRouterDeps {
  service: SubscriptionService;
  adminApiKey: string;
  /** Replaces the default Bearer ADMIN_API_KEY check (the app may share one middleware across admin routes). */
  adminAuth?: RequestHandler;
  /** Called after a create or delete (the subscription health then asks Strava afresh). */
  onChange?: () => Promise<void>;
}

/** GET (view), POST (create; `?replace=true` replaces a subscription with another callback), DELETE. */
export function createSubscriptionRouter(deps: SubscriptionRouterDeps): Router {
  const router = express.Router();
  const auth = deps.adminAuth ?? requireAdminKey(deps.adminApiKey);

  router.get(SUBSCRIPTION_PATH, auth, async (_req, res) => {
    res.json(await deps.service.view());
  });

  router.post(SUBSCRIPTION_PATH, auth, async (req, res) => {
    const query = createSubscriptionQuerySchema.safeParse(req.query);
    if (!query.success) throw new HttpError(400, 'invalid_request', 'replace must be true or false');
    const result = await deps.service.create({ replace: query.data.replace }).finally(() => deps.onChange?.());
    res.status(result.created ? 201 : 200).json(result);
  });

  router.delete(SUBSCRIPTION_PATH, auth, async (_req, res) => {
    res.json(await deps.service.delete().finally(() => deps.onChange?.()));
  });

  // Renders this area's errors itself so the routes answer the same shape wherever they are mounted.
  const errors: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    if (error instanceof SubscriptionError || error instanceof HttpError) {
      if (error instanceof HttpError) res.set(error.headers);
      res.status(error.status).json(errorBody(error.code, error.message));
      return;
    }
    next(error);
  };
  router.use(errors);
  return router;
}
