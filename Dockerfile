# The production image: one image for both roles (the chart runs
# `agent/main.js` or `operator/main.js`). Node 24 could run the TypeScript
# sources as they are, but its type stripper costs every process about
# 17 MiB, so the image ships JavaScript: tsc erases the types once, here
# (tsconfig.image.json), and the production dependencies are installed.
#
#   docker build -t <registry>/runtimeclass-audit:0.1.0 .
#
# Non-root (65532) by default: the operator needs nothing more. The agent's
# pod spec runs it as uid 0 with every capability dropped, because the CRI
# socket is root's (srw-rw---- root root): uid 0 passes that check as the
# owner, without CAP_DAC_OVERRIDE or anything else.
#
# No Docker engine runs on this project's test machines, so the tests build
# the same filesystem with hack/image.sh (an OCI layout, which
# hack/release.sh pushes to a registry). Where the two differ: here glibc, libstdc++ and the
# CA bundle come from the distroless base (Debian 12 packages); there they
# are copied from the Debian 12 host, and the base's tzdata, os-release and
# /home/nonroot are absent. Node is the same release either way (24.x from
# the node image here, the npm package "node" pinned in package.json there).
ARG NODE_VERSION=24.21.0

FROM docker.io/library/node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.image.json ./
COPY agent ./agent
COPY api ./api
COPY cli ./cli
COPY kube ./kube
COPY observability ./observability
COPY operator ./operator
COPY proto ./proto
RUN node_modules/.bin/tsc -p tsconfig.image.json --outDir /app && cp -r proto /app/proto

FROM docker.io/library/node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script (package.json's allowScripts).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.map' \) -delete \
 && rm -f node_modules/.package-lock.json

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --from=build /app ./
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node"]
CMD ["operator/main.js"]
