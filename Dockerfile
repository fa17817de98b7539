# keyturn's worker and HTTP service (TypeScript run by tsx; there is no build step).
#   docker build -t keyturn .
#   worker: npx tsx workers/main.ts (the default CMD)   http: npx tsx http/main.ts
# docker-compose.yml runs both from this image; configuration comes from the environment only.
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, for layer caching. Plain `npm ci` on purpose: tsx, which runs keyturn,
# is a dependency, and the full lockfile install keeps the image identical to what CI tests.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && npm cache clean --force

COPY . .

# Writable data directory for the non-root user; keys come from secret files, not from here.
RUN mkdir -p /var/lib/keyturn \
 && chown node:node /var/lib/keyturn

ENV NODE_ENV=production \
    KEYTURN_DATA_DIR=/var/lib/keyturn \
    KEYTURN_HTTP_HOST=0.0.0.0 \
    KEYTURN_HTTP_PORT=8080

# The base image's non-root `node` user (uid/gid 1000, which the compose secrets are owned by).
# hadolint ignore=DL3066
USER node
EXPOSE 8080

CMD ["npx", "tsx", "workers/main.ts"]
