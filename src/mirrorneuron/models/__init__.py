"""Models: the zoo's own small networks, their trainer, and adapters that expose named sites."""
