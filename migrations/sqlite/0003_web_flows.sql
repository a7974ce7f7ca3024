-- Browser flows in progress (web/): after identity proofing succeeded for
-- registration or recovery (or a fresh passkey check before adding a device), which resident the next passkey ceremony in that
-- browser is for. flow_hash is SHA-256 of the flow cookie; rows are
-- short-lived and deleted when the flow completes.
CREATE TABLE web_flows (
    flow_hash   TEXT   NOT NULL PRIMARY KEY,
    purpose     TEXT   NOT NULL,
    resident_id TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    CONSTRAINT web_flows_purpose_check CHECK (purpose IN ('register', 'recover', 'add'))
) STRICT;
CREATE INDEX web_flows_expires ON web_flows (expires_at);
