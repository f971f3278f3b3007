"""Jobs: the durable store, the inference worker and the push loop."""
