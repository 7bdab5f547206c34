# cliproxy on Node 20 (slim), as a non-root user. Not built on the development machines (they have
# no Docker engine): see README "Docker".
#
#   docker build -t cliproxy .
#   docker run -p 8317:8317 -v "$PWD/cliproxy-config:/config" cliproxy
#
# /config holds config.yaml (a starter with a fresh client key is written there on first run) and,
# by default, usage.db and logs/. Mount a directory, not a single file: cliproxy saves edits by
# writing a new file beside the old one and renaming it.

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
# npm ci also builds dist/ (the "prepare" script); then drop the dev dependencies.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.yaml ./
RUN mkdir /config && chown node:node /config
USER node
WORKDIR /config
VOLUME /config
EXPOSE 8317
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTHCHECK_PORT || 8317) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Without --config, cliproxy serves ./config.yaml (here /config/config.yaml), creating it on first run.
CMD ["node", "/app/dist/cli.js"]
