"""Real environment engines run in-process, presenting AgentGym's server text exactly."""
