"""Workers and queues as the broker and the workers report them."""
