-- Surveys (SPEC "Service desk", issue 16 item 5) and where the service desk's alerts
-- reach staff. Portable SQL for SQLite and PostgreSQL.

-- a staff user's email address and phone number: where escalations and warnings reach
-- them. Sealed like all personal data.
create table staff_contact (
    user_id text primary key references staff_user (user_id),
    email_enc text,
    phone_enc text,
    updated_at bigint not null
);

-- a questionnaire. `questions` is JSON: `[{"kind": "nps|rating|choice|text", "text",
-- "options"?}]`, fixed once created (answers refer to questions by position).
create table survey (
    survey_id text primary key,
    name text not null,
    questions text not null,
    -- 1: invitations go out by themselves when a ticket with a customer closes (the
    -- newest such survey is used)
    after_ticket_close bigint not null default 0,
    created_by text not null,
    created_at bigint not null
);

-- one invitation of one customer to one survey. The token is shown once and stored as
-- its SHA-256; it is single-use: answered or declined, it is spent.
create table survey_invitation (
    invitation_id text primary key,
    survey_id text not null references survey (survey_id),
    customer_id text not null references customer (customer_id),
    token_hash text not null unique,
    -- the station the answer is counted for (the ticket's, or the customer's home
    -- station), null when there is none
    station_id text references station (station_id),
    -- the ticket whose closing sent it, if any
    ticket_id text references ticket (ticket_id),
    -- pending | answered | declined
    state text not null,
    created_at bigint not null,
    expires_at bigint not null,
    answered_at bigint,
    declined_at bigint
);
create index survey_invitation_customer on survey_invitation (customer_id, created_at);
create index survey_invitation_survey on survey_invitation (survey_id, state);

-- an answer: one per answered invitation. `nps` (0..10) and `rating` (1..5) are the
-- answers to the survey's first NPS and first rating question, kept apart for the
-- results; `answers` is every answer as JSON, in question order.
create table survey_response (
    invitation_id text primary key references survey_invitation (invitation_id),
    survey_id text not null references survey (survey_id),
    station_id text references station (station_id),
    nps bigint,
    rating bigint,
    answers_enc text not null,
    answered_at bigint not null
);
create index survey_response_survey on survey_response (survey_id, answered_at);
