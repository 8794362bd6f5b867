# The image deploy/kubernetes/explore-job.yaml runs: relaysim built on Debian 12 with the
# project's own setup script, nothing else.
#   docker build -f deploy/explore.Dockerfile -t relaysim-explore:latest .
FROM debian:12
COPY . /src
RUN /src/scripts/setup && /src/scripts/build /build && install -m 755 /build/relaysim /usr/local/bin/relaysim && rm -rf /build
WORKDIR /results
ENTRYPOINT []
