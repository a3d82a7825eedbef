"""`cruncan grpc`: the ingestion API over gRPC (`cruncan.one.v1.OneService`)."""
