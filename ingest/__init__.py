"""Ingestion of AI usage data: validate raw records, normalise them into events, read exports.

The pure layer, free of any database, clock or network:
- `ingest.events`: UsageEvent / OutcomeEvent and the parsers that validate raw records into
  them, reporting every problem as a FieldError;
- `ingest.formats`: streaming readers for provider and gateway exports (OpenAI, Anthropic,
  Claude Code, LiteLLM, our own CSV);
- `ingest.fingerprint` and `ingest.edit_distance`: the measures outcome texts are reduced to.
No prompt, draft or final text is kept by any of them.
"""
