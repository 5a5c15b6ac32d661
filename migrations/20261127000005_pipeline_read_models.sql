-- What the pipeline's workers add to the read models.

-- The ideation stage records how many ideas a trend became, and when.
ALTER TABLE trends
    ADD COLUMN ideas integer NOT NULL DEFAULT 0,
    ADD COLUMN ideated_at timestamptz;

-- The SEO audit behind a listing's score: [{check, points, max, advice}].
ALTER TABLE listings
    ADD COLUMN seo_checks jsonb NOT NULL DEFAULT '[]';

-- The screening of a listing's composed text: green / amber / red and the hits.
ALTER TABLE listings
    ADD COLUMN verdict text,
    ADD COLUMN screening_hits jsonb NOT NULL DEFAULT '[]';
