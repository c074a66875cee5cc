"""Small helpers shared across gliclass_keras: argument checks, activations, shape policy."""
