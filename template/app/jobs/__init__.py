"""The jobs the worker runs: a module per kind of work, each with `TASKS`, the task of each job
message it handles (app/worker.py registers every one it finds, as app/main.py serves every
router). A task opens its own session, like a request, and calls a service."""
