"""Extensions: how a run went, resuming after a kill, field coverage."""
