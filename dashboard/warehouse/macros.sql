-- SQL macros shared by the measures (queries/*.sql). Created by db.create_schema after schema.sql and the
-- bank-holiday calendar. Table names inside macro bodies are unqualified on purpose: DuckDB binds them with the
-- CALLER's search path, so under `SET search_path = 'planning,main'` a macro reads the planning views (objectors
-- left out) exactly as the query that calls it does. Never qualify a child table with `main.` here: that would
-- let objectors' children back into planning answers.
-- Conventions: see docs/measures.md. Labels produced here are the dimension values the pages and the gate see.

-- ---------------------------------------------------------------- census year
-- Census year y runs from 1 April y-1 to 31 March y (both inclusive).
CREATE OR REPLACE MACRO census_start(y) AS make_date(CAST(y AS INTEGER) - 1, 4, 1);
CREATE OR REPLACE MACRO census_end(y) AS make_date(CAST(y AS INTEGER), 3, 31);
-- "In the year": the date falls within the census year.
CREATE OR REPLACE MACRO in_census_year(d, y) AS (d BETWEEN census_start(y) AND census_end(y));
-- The census year a date falls in (in_census_year(d, census_year_of(d)) holds for every non-NULL d).
CREATE OR REPLACE MACRO census_year_of(d) AS year(d) + CASE WHEN month(d) >= 4 THEN 1 ELSE 0 END;
-- "Open at date d": started on or before d and not ended on or before d (domain.md section 2).
CREATE OR REPLACE MACRO open_at(start_d, end_d, d) AS (start_d <= d AND (end_d IS NULL OR end_d > d));

-- ---------------------------------------------------------------- ages
-- Completed years at date d. A child born on 29 February has a birthday on 1 March in common years
-- (English law): month*100+day of 28 Feb (228) is below 229, so the birthday is not yet reached.
CREATE OR REPLACE MACRO age_at(dob, d) AS
    CASE WHEN dob IS NULL OR d IS NULL THEN NULL
         ELSE year(d) - year(dob)
              - CASE WHEN month(d) * 100 + day(d) < month(dob) * 100 + day(dob) THEN 1 ELSE 0 END
    END;

-- DfE age bands. 'Unborn' when the date of birth is after d (an unborn child has a future expected DOB);
-- 'Not known' when there is no DOB at all.
-- The band is looked up by completed years (capped at 16) so that age_at is worked out once, not once per band
-- tested (the derived relations work it out for every event). least() skips a NULL (d NULL): '16+', as before.
CREATE OR REPLACE MACRO age_band(dob, d) AS
    CASE WHEN dob IS NULL THEN 'Not known'
         WHEN dob > d THEN 'Unborn'
         ELSE ['Under 1', '1-4', '1-4', '1-4', '1-4', '5-9', '5-9', '5-9', '5-9', '5-9',
               '10-15', '10-15', '10-15', '10-15', '10-15', '10-15', '16+'][least(age_at(dob, d), 16) + 1]
    END;

-- A child with no DOB but an expected DOB after d is unborn at d; otherwise the age band of the DOB.
CREATE OR REPLACE MACRO child_age_band(dob, expected_dob, d) AS
    CASE WHEN dob IS NULL AND expected_dob IS NOT NULL AND expected_dob > d THEN 'Unborn'
         ELSE age_band(dob, d)
    END;

-- ---------------------------------------------------------------- characteristics
CREATE OR REPLACE MACRO sex_label(s) AS
    CASE s WHEN 'M' THEN 'Male' WHEN 'F' THEN 'Female' ELSE 'Not known' END;

CREATE OR REPLACE MACRO ethnicity_label(g) AS
    CASE WHEN g IN ('White', 'Mixed', 'Asian', 'Black', 'Other') THEN g ELSE 'Not known' END;

-- Ethnicity group from a 903/CIN ethnicity code, for rows that lack child.ethnicity_group.
CREATE OR REPLACE MACRO ethnicity_group_of(code) AS
    CASE WHEN code IN ('WBRI', 'WIRI', 'WIRT', 'WOTH', 'WROM') THEN 'White'
         WHEN code IN ('MWBC', 'MWBA', 'MWAS', 'MOTH') THEN 'Mixed'
         WHEN code IN ('AIND', 'APKN', 'ABAN', 'AOTH', 'CHNE') THEN 'Asian'
         WHEN code IN ('BCRB', 'BAFR', 'BOTH') THEN 'Black'
         WHEN code IN ('OOTH') THEN 'Other'
         ELSE 'Not known'
    END;

CREATE OR REPLACE MACRO disability_label(b) AS
    CASE WHEN b IS NULL THEN 'Not known' WHEN b THEN 'Disabled' ELSE 'Not disabled' END;

-- ---------------------------------------------------------------- working days
-- Weekdays from Monday 1 January 1900 up to and including d (floor division keeps earlier dates right).
CREATE OR REPLACE MACRO weekdays_through(d) AS
    5 * ((d - DATE '1900-01-01') // 7)
    + least(((d - DATE '1900-01-01') % 7 + 7) % 7 + 1, 5)
    - CASE WHEN (d - DATE '1900-01-01') < 0 AND ((d - DATE '1900-01-01') % 7) <> 0 THEN 5 ELSE 0 END;

-- Working days from s to e counting s itself as day 1 (the DfE validators' convention): the number of
-- weekdays in [s, e] that are not England and Wales bank holidays. So an assessment started and authorised on
-- the same working day takes 1 working day; Monday to the next Monday is 6; a span that is only a weekend is 0.
-- NULL when either date is missing or e is before s (invalid spans are never counted as timely).
-- working_days_given: the same rule given the number of weekday bank holidays in [s, e] (DATEs), for a caller that
-- counts them in bulk (derived.sql, assessment_span); `holidays` is only used for a valid span.
CREATE OR REPLACE MACRO working_days_given(s, e, holidays) AS
    CASE WHEN s IS NULL OR e IS NULL OR e < s THEN NULL
         ELSE weekdays_through(e) - weekdays_through(s - 1) - holidays
    END;
CREATE OR REPLACE MACRO working_days(s, e) AS
    working_days_given(CAST(s AS DATE), CAST(e AS DATE),
                       (SELECT count(*) FROM bank_holiday b
                        WHERE b.holiday_date BETWEEN CAST(s AS DATE) AND CAST(e AS DATE) AND isodow(b.holiday_date) < 6));

-- DfE assessment duration bands. 'Same day' is decided by the dates (authorised on the start date), the other
-- bands by working days (s counted as day 1), so a 2-working-day assessment is in '1-10 days'.
CREATE OR REPLACE MACRO assessment_band(s, e, wd) AS
    CASE WHEN wd IS NULL THEN 'Not known'
         WHEN e = s THEN 'Same day'
         WHEN wd <= 10 THEN '1-10 days'
         WHEN wd <= 20 THEN '11-20 days'
         WHEN wd <= 30 THEN '21-30 days'
         WHEN wd <= 40 THEN '31-40 days'
         WHEN wd <= 45 THEN '41-45 days'
         WHEN wd <= 50 THEN '46-50 days'
         WHEN wd <= 60 THEN '51-60 days'
         ELSE '61+ days'
    END;

-- CP plan duration bands (DfE): each band includes its upper bound, the last band includes exactly 2 years.
CREATE OR REPLACE MACRO cpp_duration_band(s, e) AS
    CASE WHEN s IS NULL OR e IS NULL OR e < s THEN 'Not known'
         WHEN e <= s + INTERVAL 3 MONTH THEN '3 months or less'
         WHEN e <= s + INTERVAL 6 MONTH THEN 'Over 3 to 6 months'
         WHEN e <= s + INTERVAL 12 MONTH THEN 'Over 6 months to 1 year'
         WHEN e < s + INTERVAL 24 MONTH THEN 'Over 1 year to under 2 years'
         ELSE '2 years or more'
    END;

-- ---------------------------------------------------------------- code labels (dimension values)
CREATE OR REPLACE MACRO abuse_category_label(c) AS
    CASE c WHEN 'NEG' THEN 'Neglect' WHEN 'PHY' THEN 'Physical abuse' WHEN 'SAB' THEN 'Sexual abuse'
           WHEN 'EMO' THEN 'Emotional abuse' WHEN 'MUL' THEN 'Multiple' ELSE 'Not known' END;

CREATE OR REPLACE MACRO primary_need_label(c) AS
    CASE c WHEN 'N1' THEN 'N1 Abuse or neglect' WHEN 'N2' THEN 'N2 Child''s disability or illness'
           WHEN 'N3' THEN 'N3 Parental disability or illness' WHEN 'N4' THEN 'N4 Family in acute stress'
           WHEN 'N5' THEN 'N5 Family dysfunction' WHEN 'N6' THEN 'N6 Socially unacceptable behaviour'
           WHEN 'N7' THEN 'N7 Low income' WHEN 'N8' THEN 'N8 Absent parenting'
           WHEN 'N9' THEN 'N9 Cases other than children in need' ELSE 'Not known' END;

CREATE OR REPLACE MACRO referral_source_group(c) AS
    CASE WHEN c IN ('1A', '1B', '1C', '1D') THEN 'Individual'
         WHEN c IN ('2A', '2B') THEN 'Schools and education'
         WHEN c IN ('3A', '3B', '3C', '3D', '3E', '3F') THEN 'Health services'
         WHEN c = '4' THEN 'Housing'
         WHEN c IN ('5A', '5B', '5C', '5D') THEN 'Local authority services'
         WHEN c = '6' THEN 'Police'
         WHEN c = '7' THEN 'Other legal agency'
         WHEN c = '8' THEN 'Other'
         WHEN c = '9' THEN 'Anonymous'
         ELSE 'Not known'
    END;

-- 903 legal status, grouped as the DfE's looked-after tables do.
CREATE OR REPLACE MACRO legal_status_group(ls) AS
    CASE WHEN ls = 'C1' THEN 'Interim care order'
         WHEN ls = 'C2' THEN 'Full care order'
         WHEN ls IN ('D1', 'E1') THEN 'Placement order granted'
         WHEN ls = 'V2' THEN 'Voluntary agreement (s20)'
         WHEN ls IN ('V3', 'V4') THEN 'Short breaks (V3/V4)'
         WHEN ls IN ('L1', 'L2', 'L3') THEN 'Emergency or police protection'
         WHEN ls IN ('J1', 'J2', 'J3') THEN 'Youth justice'
         ELSE 'Not known'
    END;

-- 903 placement type, grouped. T0-T4 (temporary placements) keep their own group.
CREATE OR REPLACE MACRO placement_group(p) AS
    CASE WHEN p IN ('U1', 'U2', 'U3', 'U4', 'U5', 'U6') THEN 'Foster placement'
         WHEN p IN ('A3', 'A4', 'A5', 'A6') THEN 'Placed for adoption'
         WHEN p = 'P1' THEN 'Placed with parents'
         WHEN p IN ('K1', 'K2', 'K3') THEN 'Secure unit or children''s home'
         WHEN p IN ('H5', 'P2', 'P3') THEN 'Independent or semi-independent living'
         WHEN p IN ('R1', 'R2', 'R3', 'R5', 'S1') THEN 'Other residential setting'
         WHEN p IN ('T0', 'T1', 'T2', 'T3', 'T4') THEN 'Temporary placement'
         WHEN p IN ('Z1', 'Z11', 'Z12', 'Z13', 'Z14') THEN 'Other placement'
         ELSE 'Not known'
    END;

CREATE OR REPLACE MACRO is_temporary_place(p) AS coalesce(p IN ('T0', 'T1', 'T2', 'T3', 'T4'), FALSE);
CREATE OR REPLACE MACRO is_short_break(ls) AS coalesce(ls IN ('V3', 'V4'), FALSE);

-- Reason a period of care ended (903 REC), grouped.
CREATE OR REPLACE MACRO reason_ceased_group(rec) AS
    CASE WHEN rec IN ('E11', 'E12') THEN 'Adopted'
         WHEN rec = 'E2' THEN 'Died'
         WHEN rec = 'E3' THEN 'Care taken over by another authority'
         WHEN rec IN ('E13', 'E4A', 'E4B') THEN 'Returned home'
         WHEN rec IN ('E41', 'E43', 'E44', 'E45', 'E46', 'E47', 'E48') THEN 'Residence or child arrangements order'
         WHEN rec IN ('E5', 'E6', 'E7') THEN 'Moved to independent living or adult care'
         WHEN rec = 'E9' THEN 'Sentenced to custody'
         WHEN rec = 'E14' THEN 'Accommodation on remand ended'
         WHEN rec = 'E15' THEN 'Age assessment: aged 18 or over'
         WHEN rec = 'E16' THEN 'Child moved abroad'
         WHEN rec = 'E17' THEN 'Aged 18 and remained with foster carers'
         WHEN rec = 'E8' THEN 'Other reason'
         ELSE 'Not known'
    END;

-- ---------------------------------------------------------------- allocation
-- Team (team_id) allocated to the child at date d: the allocation open at d (open_at rule); if several
-- overlap, the one that started last, then the highest team_id (alloc_rank). 'Unallocated' when none.
-- The measures join `allocation` with the same rule, set-based and restricted to the children in scope (faster
-- than team_on(d), which works out every child's team; both are kept for ad-hoc use and tests).
CREATE OR REPLACE MACRO alloc_rank(start_d, team_id) AS {'start': start_d, 'team': team_id};

CREATE OR REPLACE MACRO team_at(c, d) AS coalesce(
    (SELECT arg_max(a.team_id, alloc_rank(a.start_date, a.team_id))
     FROM allocation a WHERE a.child_id = c AND open_at(a.start_date, a.end_date, d)),
    'Unallocated');

CREATE OR REPLACE MACRO worker_at(c, d) AS
    (SELECT arg_max(a.worker_id, {'start': a.start_date, 'team': a.team_id, 'worker': a.worker_id})
     FROM allocation a WHERE a.child_id = c AND open_at(a.start_date, a.end_date, d));

-- Every child's allocation open at one date d, one row per child (same rule as team_at).
-- Join it: LEFT JOIN team_on(d) t USING (child_id), then coalesce(t.team, 'Unallocated').
CREATE OR REPLACE MACRO team_on(d) AS TABLE
    SELECT a.child_id,
           arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team,
           arg_max(a.worker_id, {'start': a.start_date, 'team': a.team_id, 'worker': a.worker_id}) AS worker
    FROM allocation a
    WHERE open_at(a.start_date, a.end_date, d)
    GROUP BY a.child_id;

-- ---------------------------------------------------------------- periods of care (903)
-- episodes_stitched(), placement_episodes() and cla_on(d) are in derived.sql, next to the derived relations
-- they read (a table macro is bound when created, so it must follow them).

-- ---------------------------------------------------------------- cubes from pre-aggregates
-- GROUP BY CUBE over n dimensions runs 2^n aggregations over the whole input (twice with count(DISTINCT)); the
-- measures instead aggregate to the finest cells once and roll those up to every margin by joining them with
-- the 2^n grouping masks below, which is the same cube (docs/measures.md, "Speed").
-- Mask g keeps dimension i (0-based, in the query's dimension order) when bit i is set.
CREATE OR REPLACE MACRO cube_masks(n) AS TABLE SELECT CAST(range AS INTEGER) AS g FROM range(CAST(1 << n AS BIGINT));
CREATE OR REPLACE MACRO cube_keeps(g, i) AS CAST((g >> i) & 1 AS INTEGER);
-- A cell's label for dimension i under mask g: the value when kept, 'Total' on a margin.
CREATE OR REPLACE MACRO cube_label(g, i, v) AS CASE WHEN (g >> i) & 1 = 1 THEN v ELSE 'Total' END;
