-- The member portal's service desk (issue 16 items 6-7): a member's own tickets are
-- listed, and the tickets a member opened in the last day counted, by customer.
-- Portable SQL for SQLite and PostgreSQL.
create index ticket_customer on ticket (customer_id, opened_at);
