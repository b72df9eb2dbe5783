# The production image: one image, two roles (api and worker), chosen by the command.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
# The Temporal binaries are only needed for tests and `strava-sync dev`; production talks to a real cluster.
# patch-package applies patches/ (a postgres.js fix for connections that drop mid-transaction) without the rest of postinstall.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npx patch-package
COPY bin ./bin
COPY src ./src
COPY tsconfig.json ./
USER node
EXPOSE 3000 9464
ENTRYPOINT ["node", "bin/strava-sync.js"]
CMD ["api"]
