-- The service desk (SPEC F8): business calendars, SLA policies per severity, tickets
-- and their events. Portable SQL for SQLite and PostgreSQL.

-- a business calendar: the hours in which SLA time runs. `hours` is the weekly hours as
-- the API takes them (`{"mon": [["08:00","18:00"]], …}` or `"24h"`), `holidays` and
-- `workdays` JSON arrays of dates, `workday_hours` the hours of a make-up working day
-- (调休) or null for Monday's. Read whole and turned into a core `Calendar`.
create table calendar (
    calendar_id text primary key,
    code text not null unique,
    time_zone text not null,
    hours text not null,
    holidays text not null,
    workdays text not null,
    workday_hours text,
    created_at bigint not null,
    updated_at bigint not null
);

-- the calendar a station's tickets run on; a station without a row uses the calendar
-- coded `default`.
create table station_calendar (
    station_id text primary key references station (station_id),
    calendar_id text not null references calendar (calendar_id),
    updated_at bigint not null
);

-- the targets of one severity (low | normal | high | critical), in business minutes.
create table sla_policy (
    severity text primary key,
    first_response_minutes bigint not null,
    resolution_minutes bigint not null,
    updated_at bigint not null
);

-- a ticket: a complaint, suggestion, praise, inquiry or service request. Its state is
-- the workflow stage; the SLA clocks are computed from `opened_at` and its events.
-- `description_enc` is sealed like personal data: a complaint's text often names people,
-- phones and plates.
create table ticket (
    ticket_id text primary key,
    -- complaint | suggestion | praise | inquiry | service_request
    kind text not null,
    -- counter | phone | portal | wechat | email
    channel text not null,
    station_id text not null references station (station_id),
    category text not null,
    severity text not null,
    -- the severity's targets when the ticket was opened, in business minutes: a policy
    -- changed later applies to new tickets, not to promises already made
    first_response_minutes bigint not null,
    resolution_minutes bigint not null,
    customer_id text references customer (customer_id),
    description_enc text not null,
    -- accepted | investigating | solution_proposed | implementing | waiting_customer |
    -- callback | closed
    state text not null,
    opened_at bigint not null,
    first_response_at bigint,
    resolved_at bigint,
    closed_at bigint,
    -- the highest escalation level notified so far (0 none, 1 station manager, 2 region
    -- manager, 3 headquarters); raised only by the escalation job
    escalation_level bigint not null default 0,
    assignee_id text references staff_user (user_id),
    -- the author of the opening, as the audit log names actors (`user:NAME`)
    opened_by text not null,
    -- events recorded so far; every event takes the next number under the ticket's row
    -- lock, and (ticket_id, seq) is unique, so two concurrent steps cannot both apply
    event_count bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index ticket_station_state on ticket (station_id, state);
create index ticket_state on ticket (state, opened_at);

-- one step of a ticket, in order. `at` is when it happened (a callback made earlier can
-- be recorded later); `created_at` when it was recorded.
create table ticket_event (
    ticket_id text not null references ticket (ticket_id),
    seq bigint not null,
    action text not null,
    author text not null,
    from_state text not null,
    to_state text not null,
    note_enc text,
    assignee_id text references staff_user (user_id),
    -- satisfaction 1..5 of a callback
    csat bigint,
    at bigint not null,
    created_at bigint not null,
    primary key (ticket_id, seq)
);
