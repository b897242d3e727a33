"""Running several processes against one PostgreSQL database: process roles, the event relay
(LISTEN/NOTIFY) and the transcription job queue (procrastinate). See docs/DEPLOYMENT.md."""
