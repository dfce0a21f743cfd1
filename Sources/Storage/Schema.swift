import GRDB

/// The schema, as GRDB migrations. A migration is never edited once shipped: change the
/// schema by appending a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tickets-detections-audit") { db in
            try db.execute(sql: """
                CREATE TABLE ticket (
                    id               INTEGER PRIMARY KEY AUTOINCREMENT,
                    site_id          TEXT NOT NULL CHECK (site_id <> ''),
                    device_id        TEXT NOT NULL CHECK (device_id <> ''),
                    sensor           TEXT,
                    fault_code       TEXT NOT NULL CHECK (fault_code <> ''),
                    source           TEXT NOT NULL CHECK (source IN ('predictive', 'customer_report', 'manual')),
                    grade            TEXT NOT NULL CHECK (grade IN ('urgent', 'general', 'minor')),
                    status           TEXT NOT NULL CHECK (status IN ('new', 'acknowledged', 'contacted', 'dispatched',
                                                                     'on_site', 'resolved', 'closed', 'cancelled')),
                    title            TEXT NOT NULL,
                    opened_at        INTEGER NOT NULL,
                    updated_at       INTEGER NOT NULL CHECK (updated_at >= opened_at),
                    occurrences      INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
                    detector         TEXT,
                    detector_version INTEGER,
                    profile_id       TEXT,
                    profile_version  INTEGER,
                    last_value       REAL,
                    limit_value      REAL,
                    unit             TEXT
                );
                -- One open ticket per (device, fault): repeated detections add occurrences.
                CREATE UNIQUE INDEX ticket_one_open_per_device_fault
                    ON ticket (device_id, fault_code) WHERE status NOT IN ('closed', 'cancelled');
                CREATE INDEX ticket_by_status ON ticket (status, opened_at);

                CREATE TABLE detection (
                    id               INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id        INTEGER NOT NULL REFERENCES ticket(id),
                    transition       TEXT NOT NULL CHECK (transition IN ('raised', 'cleared')),
                    severity         TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
                    sensor           TEXT NOT NULL,
                    detected_at      INTEGER NOT NULL,
                    condition_since  INTEGER NOT NULL CHECK (condition_since <= detected_at),
                    value            REAL NOT NULL,
                    limit_value      REAL NOT NULL,
                    unit             TEXT NOT NULL,
                    detector         TEXT NOT NULL,
                    detector_version INTEGER NOT NULL,
                    profile_id       TEXT NOT NULL,
                    profile_version  INTEGER NOT NULL,
                    summary          TEXT NOT NULL,
                    recorded_at      INTEGER NOT NULL
                );
                CREATE INDEX detection_by_ticket ON detection (ticket_id, detected_at);

                -- The ring's samples around a detection, as they were when it fired.
                CREATE TABLE evidence_sample (
                    detection_id INTEGER NOT NULL REFERENCES detection(id),
                    ts           INTEGER NOT NULL,
                    value        REAL NOT NULL
                );
                CREATE INDEX evidence_by_detection ON evidence_sample (detection_id, ts);

                -- Append-only record of every service step.
                CREATE TABLE audit_record (
                    id        INTEGER PRIMARY KEY AUTOINCREMENT,
                    at        INTEGER NOT NULL,
                    actor     TEXT NOT NULL CHECK (actor <> ''),
                    action    TEXT NOT NULL CHECK (action <> ''),
                    ticket_id INTEGER REFERENCES ticket(id),
                    detail    TEXT NOT NULL
                );
                CREATE INDEX audit_by_ticket ON audit_record (ticket_id, id);
                CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record
                    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
                CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record
                    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
                """)
        }
        migrator.registerMigration("v2-drill-tickets") { db in
            // Drill tickets live beside real ones: one open ticket per (device, fault, drill).
            try db.execute(sql: """
                ALTER TABLE ticket ADD COLUMN drill INTEGER NOT NULL DEFAULT 0 CHECK (drill IN (0, 1));
                DROP INDEX ticket_one_open_per_device_fault;
                CREATE UNIQUE INDEX ticket_one_open_per_device_fault_drill
                    ON ticket (device_id, fault_code, drill) WHERE status NOT IN ('closed', 'cancelled');
                """)
        }
        migrator.registerMigration("v3-audit-hash-chain") { db in
            // The chain is filled in for records written before it existed, then the
            // append-only triggers come back.
            try db.execute(sql: """
                DROP TRIGGER audit_record_no_update;
                ALTER TABLE audit_record ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
                ALTER TABLE audit_record ADD COLUMN hash TEXT NOT NULL DEFAULT '';
                """)
            try AuditChain.backfill(db)
            try db.execute(sql: """
                CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record
                    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
                """)
        }
        return migrator
    }
}
