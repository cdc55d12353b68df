"""`make bench`: throughput, latency, SQL and memory of the service as deployed."""
