# The production image: one image, two roles (api and worker), chosen by the command.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# The Temporal binaries are only needed for tests and `strava-sync dev`; production talks to a real cluster.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY tsconfig.json ./
USER node
EXPOSE 3000 9464
ENTRYPOINT ["node", "bin/strava-sync.js"]
CMD ["api"]
