"""One router per resource: users (enroll, status, erasure), score, health (and metrics)."""
