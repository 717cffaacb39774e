"""Ray Serve application: trained policies behind an HTTP / WebSocket action endpoint.

Runtime (load a checkpoint, validate observations, act, filter) lives in plain Python
(`serve.runtime`, `serve.validation`) so it is tested without Ray; `serve.app` wraps it
in Serve deployments, `serve.protocol` holds the HTTP plumbing, `serve.client` the client.
"""

# Serve's low-latency path, measured in benchmarks/serve_latency.py (BENCHMARKS.md): direct ingress (each
# policy replica answers HTTP on its own port, skipping the proxy hop), user code on the replica's main event
# loop, gRPC between handles and replicas; and Ray's workers at normal priority instead of nice 15. Both are
# read by the processes Ray starts, so they must be in the environment of `ray.init` / `ray start`.
FAST_PATH_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_worker_niceness": "0"}
