-- The ideation stage records how many ideas a trend became, and when.
ALTER TABLE trends
    ADD COLUMN ideas integer NOT NULL DEFAULT 0,
    ADD COLUMN ideated_at timestamptz;
