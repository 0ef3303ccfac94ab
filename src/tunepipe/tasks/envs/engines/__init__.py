"""Real environment engines run in-process, presenting AgentGym's server text exactly
(one module per AgentGym environment; see docs/tasks/environments.md)."""
