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
        migrator.registerMigration("v4-service-desk") { db in
            try db.execute(sql: """
                ALTER TABLE ticket ADD COLUMN owner TEXT;
                ALTER TABLE ticket ADD COLUMN customer TEXT;
                ALTER TABLE ticket ADD COLUMN tier TEXT NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'vip'));
                ALTER TABLE ticket ADD COLUMN criticality INTEGER CHECK (criticality BETWEEN 1 AND 5);
                ALTER TABLE ticket ADD COLUMN time_zone TEXT;
                ALTER TABLE ticket ADD COLUMN paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1));
                ALTER TABLE ticket ADD COLUMN channel TEXT CHECK (channel IN ('phone', 'online', 'email'));
                ALTER TABLE ticket ADD COLUMN cancel_reason TEXT;

                -- The deadlines the desk computed last; escalations are scheduled from them.
                CREATE TABLE sla_clock (
                    ticket_id  INTEGER NOT NULL REFERENCES ticket(id),
                    kind       TEXT NOT NULL CHECK (kind IN ('first_contact', 'on_site', 'resolution')),
                    started_at INTEGER NOT NULL,
                    target_ms  INTEGER NOT NULL CHECK (target_ms > 0),
                    calendar   TEXT NOT NULL,
                    deadline   INTEGER,
                    met_at     INTEGER,
                    state      TEXT NOT NULL CHECK (state IN ('running', 'paused', 'met', 'not_needed', 'stopped')),
                    PRIMARY KEY (ticket_id, kind)
                );
                CREATE INDEX sla_clock_running ON sla_clock (state, deadline);

                CREATE TABLE sla_pause (
                    id         INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id  INTEGER NOT NULL REFERENCES ticket(id),
                    reason     TEXT NOT NULL CHECK (reason IN ('waiting_for_customer', 'site_access_refused', 'customer_owned_part')),
                    evidence   TEXT NOT NULL CHECK (evidence <> ''),
                    actor      TEXT NOT NULL CHECK (actor <> ''),
                    started_at INTEGER NOT NULL,
                    ended_at   INTEGER CHECK (ended_at IS NULL OR ended_at >= started_at)
                );
                CREATE UNIQUE INDEX sla_pause_one_open ON sla_pause (ticket_id) WHERE ended_at IS NULL;

                -- One row per escalation step that fired: the primary key is what makes each
                -- level fire exactly once per ticket, clock and deadline, across restarts.
                CREATE TABLE escalation (
                    ticket_id INTEGER NOT NULL REFERENCES ticket(id),
                    clock     TEXT NOT NULL,
                    level     TEXT NOT NULL CHECK (level IN ('warning', 'supervisor', 'management', 'reoffer')),
                    deadline  INTEGER NOT NULL,
                    due_at    INTEGER NOT NULL,
                    fired_at  INTEGER NOT NULL,
                    PRIMARY KEY (ticket_id, clock, level, deadline)
                );

                -- Notifications are written in the same transaction as the change they report,
                -- and delivered from here, so none is lost on a crash or restart.
                CREATE TABLE outbox (
                    id         INTEGER PRIMARY KEY AUTOINCREMENT,
                    created_at INTEGER NOT NULL,
                    key        TEXT NOT NULL UNIQUE,
                    kind       TEXT NOT NULL,
                    topic      TEXT NOT NULL,
                    payload    TEXT NOT NULL
                );
                -- Each destination (a webhook URL, the MQTT broker) gets every message created
                -- since it was first configured, in order, at least once.
                CREATE TABLE outbox_destination (
                    name  TEXT PRIMARY KEY,
                    since INTEGER NOT NULL
                );
                CREATE TABLE outbox_delivery (
                    message_id      INTEGER NOT NULL REFERENCES outbox(id),
                    destination     TEXT NOT NULL REFERENCES outbox_destination(name),
                    attempts        INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    delivered_at    INTEGER,
                    last_error      TEXT,
                    PRIMARY KEY (message_id, destination)
                );

                -- Further (device, fault) pairs a ticket stands for: symptoms of one device grouped
                -- within the correlation window, devices of a site that went silent together.
                CREATE TABLE ticket_symptom (
                    ticket_id  INTEGER NOT NULL REFERENCES ticket(id),
                    device_id  TEXT NOT NULL,
                    fault_code TEXT NOT NULL,
                    first_at   INTEGER NOT NULL,
                    PRIMARY KEY (ticket_id, device_id, fault_code)
                );
                CREATE INDEX ticket_symptom_lookup ON ticket_symptom (device_id, fault_code);

                -- An engineer's proposed repair and the supervisor's decision on it.
                CREATE TABLE solution (
                    id             INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id      INTEGER NOT NULL REFERENCES ticket(id),
                    proposed_by    TEXT NOT NULL CHECK (proposed_by <> ''),
                    proposed_at    INTEGER NOT NULL,
                    diagnosis      TEXT NOT NULL CHECK (diagnosis <> ''),
                    planned_work   TEXT NOT NULL CHECK (planned_work <> ''),
                    parts          TEXT NOT NULL,
                    estimated_cost REAL NOT NULL CHECK (estimated_cost >= 0),
                    status         TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected', 'not_required')),
                    decided_by     TEXT,
                    decided_at     INTEGER,
                    decision_note  TEXT
                );
                CREATE INDEX solution_by_ticket ON solution (ticket_id, id);

                -- The service policy in force, so command-line tools use the gateway's.
                CREATE TABLE service_policy (
                    id        INTEGER PRIMARY KEY AUTOINCREMENT,
                    loaded_at INTEGER NOT NULL,
                    sha256    TEXT NOT NULL,
                    source    TEXT NOT NULL,
                    text      TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5-api-tokens") { db in
            // Only the SHA-256 of a token is stored; the secret is shown once, at creation.
            try db.execute(sql: """
                CREATE TABLE api_token (
                    id           INTEGER PRIMARY KEY AUTOINCREMENT,
                    name         TEXT NOT NULL CHECK (name <> ''),
                    role         TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'engineer', 'customer')),
                    subject      TEXT NOT NULL CHECK (subject <> ''),
                    organisation TEXT,
                    sha256       TEXT NOT NULL UNIQUE,
                    created_at   INTEGER NOT NULL,
                    revoked_at   INTEGER,
                    CHECK (role <> 'customer' OR organisation IS NOT NULL)
                );
                """)
        }
        migrator.registerMigration("v6-ratings-complaints") { db in
            try db.execute(sql: """
                -- The customer's answer to one question (1 poor … 5 excellent) about a fixed fault;
                -- the latest answer per ticket counts.
                CREATE TABLE rating (
                    id        INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id INTEGER NOT NULL REFERENCES ticket(id),
                    score     INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
                    comment   TEXT NOT NULL DEFAULT '',
                    actor     TEXT NOT NULL CHECK (actor <> ''),
                    at        INTEGER NOT NULL
                );
                CREATE INDEX rating_by_ticket ON rating (ticket_id, id);
                -- A complaint is a ticket of its own, linked to the ticket it is about.
                ALTER TABLE ticket ADD COLUMN complaint_of INTEGER REFERENCES ticket(id);
                """)
        }
        migrator.registerMigration("v7-forecasts") { db in
            try db.execute(sql: """
                -- A trend forecast (LimitForecast as JSON): the ticket's latest, and the one each
                -- forecast detection carried, so the ticket's history shows how it was refined.
                ALTER TABLE ticket ADD COLUMN forecast TEXT;
                ALTER TABLE detection ADD COLUMN forecast TEXT;
                """)
        }
        migrator.registerMigration("v8-detector-checkpoint") { db in
            try db.execute(sql: """
                -- The detectors' in-memory state (a DetectionEngine checkpoint, JSON), so a restart
                -- resumes duration timers, flatline runs and fitted trends. One row, replaced on
                -- every save; losing it only makes the detectors re-learn.
                CREATE TABLE detector_checkpoint (
                    id       INTEGER PRIMARY KEY CHECK (id = 1),
                    saved_at INTEGER NOT NULL,
                    state    BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v9-series-history") { db in
            try db.execute(sql: """
                -- The series store's contents (a SeriesSnapshot), so a restart keeps the rings and the
                -- compressed history behind them. Sealed history blocks never change: each is written
                -- once, keyed by series and first timestamp, and deleted when the history budget drops
                -- it. The rest (every ring, compressed, and every block still being filled) is one row,
                -- replaced on each save in the same transaction as the block changes.
                CREATE TABLE series_recent (
                    id       INTEGER PRIMARY KEY CHECK (id = 1),
                    saved_at INTEGER NOT NULL,
                    state    BLOB NOT NULL
                );
                CREATE TABLE series_block (
                    device_id TEXT NOT NULL CHECK (device_id <> ''),
                    sensor    TEXT NOT NULL CHECK (sensor <> ''),
                    start_ts  INTEGER NOT NULL,
                    data      BLOB NOT NULL,
                    PRIMARY KEY (device_id, sensor, start_ts)
                );
                """)
        }
        migrator.registerMigration("v10-field-team") { db in
            // The field team as imported (engineers, service points, partners): the columns
            // dispatch filters on, and the whole record as canonical JSON. Nobody is deleted:
            // an engineer left out of a new import is deactivated, so old tickets keep a name.
            try db.execute(sql: """
                CREATE TABLE engineer (
                    id            TEXT PRIMARY KEY CHECK (id <> ''),
                    name          TEXT NOT NULL CHECK (name <> ''),
                    role          TEXT NOT NULL CHECK (role IN ('engineer', 'dispatcher', 'supervisor', 'management')),
                    service_point TEXT,
                    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
                    definition    TEXT NOT NULL CHECK (json_valid(definition)),
                    updated_at    INTEGER NOT NULL
                );
                CREATE TABLE service_point (
                    id         TEXT PRIMARY KEY CHECK (id <> ''),
                    partner    TEXT,
                    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
                    definition TEXT NOT NULL CHECK (json_valid(definition)),
                    updated_at INTEGER NOT NULL
                );
                CREATE TABLE partner (
                    id         TEXT PRIMARY KEY CHECK (id <> ''),
                    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
                    definition TEXT NOT NULL CHECK (json_valid(definition)),
                    updated_at INTEGER NOT NULL
                );
                -- The last known position of each engineer (check-ins, the phone view, the CLI).
                CREATE TABLE engineer_position (
                    engineer_id TEXT PRIMARY KEY REFERENCES engineer(id),
                    latitude    REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
                    longitude   REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
                    at          INTEGER NOT NULL
                );
                ALTER TABLE ticket ADD COLUMN assignee TEXT REFERENCES engineer(id);
                CREATE INDEX ticket_assignee ON ticket (assignee) WHERE assignee IS NOT NULL;
                """)
        }
        migrator.registerMigration("v11-visits-remote") { db in
            // Visits to site (check-in with where the engineer was, finish with the outcome) and
            // remote assistance: what first-time fix and remote resolution are counted from.
            try db.execute(sql: """
                CREATE TABLE visit (
                    id            INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id     INTEGER NOT NULL REFERENCES ticket(id),
                    engineer      TEXT NOT NULL REFERENCES engineer(id),
                    started_at    INTEGER NOT NULL,
                    latitude      REAL CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
                    longitude     REAL CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180),
                    distance_m    REAL CHECK (distance_m IS NULL OR distance_m >= 0),
                    within_radius INTEGER NOT NULL CHECK (within_radius IN (0, 1)),
                    accepted_by   TEXT,
                    finished_at   INTEGER CHECK (finished_at IS NULL OR finished_at >= started_at),
                    outcome       TEXT CHECK (outcome IN ('fixed', 'not_fixed')),
                    reason        TEXT CHECK (reason IN ('missing_part', 'missing_skill', 'no_access', 'misdiagnosis', 'needs_follow_up')),
                    work          TEXT,
                    labour_hours  REAL CHECK (labour_hours IS NULL OR labour_hours >= 0),
                    parts         TEXT,
                    CHECK ((finished_at IS NULL) = (outcome IS NULL)),
                    CHECK (outcome IS NOT 'not_fixed' OR reason IS NOT NULL)
                );
                CREATE UNIQUE INDEX visit_one_open ON visit (ticket_id, engineer) WHERE finished_at IS NULL;
                CREATE INDEX visit_ticket ON visit (ticket_id);
                CREATE TABLE remote_assist (
                    id           INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id    INTEGER NOT NULL REFERENCES ticket(id),
                    actor        TEXT NOT NULL CHECK (actor <> ''),
                    at           INTEGER NOT NULL,
                    checked      TEXT NOT NULL CHECK (checked <> ''),
                    instructions TEXT NOT NULL CHECK (instructions <> ''),
                    outcome      TEXT NOT NULL CHECK (outcome IN ('fixed', 'not_fixed'))
                );
                CREATE INDEX remote_assist_ticket ON remote_assist (ticket_id);
                """)
        }
        migrator.registerMigration("v12-operating-hours") { db in
            // Run-hours counters turned into hours run per device and hour (MTBF on operating
            // hours). operating_counter keeps each device's last reading, the baseline the next
            // one is counted from, so no hour is lost across restarts.
            try db.execute(sql: """
                CREATE TABLE operating_counter (
                    device_id TEXT PRIMARY KEY,
                    sensor    TEXT NOT NULL,
                    value     REAL NOT NULL,
                    at        INTEGER NOT NULL,
                    resets    INTEGER NOT NULL DEFAULT 0,
                    jumps     INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE operating_hours (
                    device_id  TEXT NOT NULL,
                    hour       INTEGER NOT NULL,
                    site_id    TEXT NOT NULL,
                    profile_id TEXT NOT NULL,
                    hours      REAL NOT NULL CHECK (hours >= 0),
                    PRIMARY KEY (device_id, hour)
                ) WITHOUT ROWID;
                CREATE INDEX operating_hours_hour ON operating_hours (hour);
                """)
        }
        migrator.registerMigration("v13-outbox-dead-letters") { db in
            // A message one destination refused max_attempts times is set aside (dead_at), so
            // one destination that always fails cannot block its queue; it can be retried by hand.
            try db.execute(sql: "ALTER TABLE outbox_delivery ADD COLUMN dead_at INTEGER")
        }
        migrator.registerMigration("v14-parts") { db in
            // The parts catalogue (canonical JSON like the team, never deleted: history names
            // its parts), stock per location, and every movement of stock as a record.
            try db.execute(sql: """
                CREATE TABLE part (
                    number     TEXT PRIMARY KEY CHECK (number <> ''),
                    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
                    unit_cost  REAL NOT NULL CHECK (unit_cost >= 0),
                    definition TEXT NOT NULL
                );
                CREATE TABLE stock (
                    location TEXT NOT NULL CHECK (location <> ''),
                    kind     TEXT NOT NULL CHECK (kind IN ('warehouse', 'service_point', 'van')),
                    part     TEXT NOT NULL REFERENCES part(number),
                    on_hand  INTEGER NOT NULL CHECK (on_hand >= 0),
                    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
                    PRIMARY KEY (location, part)
                ) WITHOUT ROWID;
                CREATE TABLE stock_movement (
                    id            INTEGER PRIMARY KEY AUTOINCREMENT,
                    at            INTEGER NOT NULL,
                    kind          TEXT NOT NULL CHECK (kind IN ('receive', 'move', 'reserve', 'release', 'consume', 'adjust')),
                    part          TEXT NOT NULL REFERENCES part(number),
                    quantity      INTEGER NOT NULL CHECK (quantity <> 0),
                    from_location TEXT,
                    to_location   TEXT,
                    ticket_id     INTEGER REFERENCES ticket(id),
                    visit_id      INTEGER REFERENCES visit(id),
                    actor         TEXT NOT NULL CHECK (actor <> ''),
                    reason        TEXT
                );
                CREATE INDEX stock_movement_part ON stock_movement (part, at);
                CREATE INDEX stock_movement_ticket ON stock_movement (ticket_id);
                """)
        }
        migrator.registerMigration("v15-cases") { db in
            // The case library: every closed ticket (and every FAQ entry) as a case, with a
            // full-text index. `case_text.terms` holds the case's words and, for Chinese, its
            // character pairs, so a two-character word (跳闸) matches without a dictionary.
            try db.execute(sql: """
                CREATE TABLE case_record (
                    id             INTEGER PRIMARY KEY AUTOINCREMENT,
                    source         TEXT NOT NULL CHECK (source IN ('ticket', 'faq')),
                    ticket_id      INTEGER UNIQUE REFERENCES ticket(id),
                    faq_id         TEXT UNIQUE,
                    model          TEXT,
                    fault_code     TEXT,
                    title          TEXT NOT NULL,
                    diagnosis      TEXT,
                    fix            TEXT,
                    parts          TEXT,
                    labour_hours   REAL,
                    repair_minutes INTEGER,
                    outcome        TEXT,
                    signature      TEXT NOT NULL DEFAULT '',
                    lesson         TEXT,
                    created_at     INTEGER NOT NULL,
                    updated_at     INTEGER NOT NULL,
                    CHECK ((source = 'ticket') = (ticket_id IS NOT NULL)),
                    CHECK ((source = 'faq') = (faq_id IS NOT NULL))
                );
                CREATE INDEX case_model_fault ON case_record (model, fault_code);
                CREATE VIRTUAL TABLE case_text USING fts5(terms, tokenize = 'unicode61');
                """)
        }
        return migrator
    }
}
