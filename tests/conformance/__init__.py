"""AWS's durable-execution conformance suite, run against our backends."""
