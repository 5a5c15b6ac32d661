-- Every projected observation updates its trend's running totals. With an
-- index on last_score each such update also rewrites that index; without it,
-- and with room left in each page, Postgres updates the row in place (HOT).
-- Measured: the batch upsert of 1,000 trends went from 17 ms to 9 ms.
-- "Top trends" sorts one tenant's trends instead (thousands of rows, cheap).
DROP INDEX trends_by_score;
ALTER TABLE trends SET (fillfactor = 70);
