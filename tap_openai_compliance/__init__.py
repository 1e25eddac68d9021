"""Singer tap for the OpenAI Compliance Logs Platform."""
