-- Ingested requests, keyed by their snowflake ID, with the lifecycle status of domain.model.request.RequestStatus.
CREATE TABLE request (
    req_id         text        PRIMARY KEY,
    user_id        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    req            jsonb       NOT NULL,
    status         text        NOT NULL DEFAULT 'accepted'
                   CONSTRAINT request_status_known CHECK (status IN ('accepted', 'published', 'forwarded', 'failed')),
    failure_reason text
);
