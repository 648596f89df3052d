# Miranda in two stages: compile one executable, then run it on a slim base.
# (Docker cannot run on the development machines; kept correct by reading.)

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY . .
RUN deno install --frozen --entrypoint mod.ts \
 && deno task compile

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/miranda /usr/local/bin/miranda
# The data directory (store, key material, certificates) is a volume.
VOLUME ["/var/lib/miranda"]
ENV MIRANDA_DATA_DIR=/var/lib/miranda \
    MIRANDA_LISTEN=0.0.0.0:8443
EXPOSE 8443
USER nonroot
ENTRYPOINT ["/usr/local/bin/miranda"]
CMD ["serve"]
