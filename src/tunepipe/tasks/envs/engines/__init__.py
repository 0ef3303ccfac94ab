"""In-process engines of AgentGym's environments, presenting their servers' text exactly."""
