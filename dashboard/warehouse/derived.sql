-- Derived relations the measures read instead of re-deriving the same things in every query (docs/measures.md,
-- "Speed"). Created by db.create_schema after macros.sql, as VIEWS: correct over whatever rows the tables hold
-- (test fixtures insert rows and query straight away). At the end of a build, derived.materialise(con) replaces
-- each view by a TABLE of the same name and the same rows, so queries read stored rows.
-- Every relation here is worked out per child (each window is PARTITION BY child_id and each join is on
-- child_id), so leaving a child out before or after deriving gives the same rows: the planning schema's views
-- (db.CHILD_TABLES; objectors left out) filter the derived rows exactly as if they had been derived from the
-- filtered tables.
-- Table names are unqualified as in macros.sql; materialise() reads them from `main`.

-- ---------------------------------------------------------------- periods of care (903)
-- Episodes stitched into periods of care: the rules are written down at the macro `episodes_stitched()` below,
-- which reads this relation. One row per episode that survives de-duplication; columns: every episode column,
-- dup, seq, prev_rec, prev_dec, prev_episode_id, new_period, period_no, period_start, period_end,
-- period_short_breaks_only.
CREATE OR REPLACE VIEW stitched_episode AS
    WITH e AS (
        SELECT * FROM (
            SELECT ep.*, row_number() OVER (PARTITION BY child_id, decom, dec, ls, place, rne
                                            ORDER BY episode_id) AS dup
            FROM episode ep)
        WHERE dup = 1
    ), o AS (
        SELECT e.*,
               row_number() OVER w AS seq,
               lag(rec) OVER w AS prev_rec,
               lag(dec) OVER w AS prev_dec,
               lag(episode_id) OVER w AS prev_episode_id
        FROM e
        WINDOW w AS (PARTITION BY child_id ORDER BY decom, dec NULLS LAST, episode_id)
    ), b AS (
        SELECT o.*,
               CASE WHEN seq = 1 THEN 1
                    WHEN prev_rec = 'X1' OR prev_dec IS NULL THEN 0
                    WHEN prev_rec IS NULL AND decom <= prev_dec THEN 0
                    ELSE 1 END AS new_period
        FROM o
    ), pn AS (
        -- period_no: the periods started up to and including the episode (a join and a count: cheaper here
        -- than a running-sum window); HUGEINT as sum() gave it
        SELECT b.child_id, b.seq, CAST(count(*) AS HUGEINT) AS period_no
        FROM b JOIN b q ON q.child_id = b.child_id AND q.new_period = 1 AND q.seq <= b.seq
        GROUP BY b.child_id, b.seq
    ), p AS (
        SELECT b.*, pn.period_no FROM b JOIN pn ON pn.child_id = b.child_id AND pn.seq = b.seq
    ), pa AS (
        -- each period's first start, its last episode's DEC and REC (NULLs kept: arg_max_null) and short breaks
        SELECT child_id, period_no, min(decom) AS period_start,
               arg_max_null(dec, seq) AS last_dec, arg_max_null(rec, seq) AS last_rec,
               bool_and(is_short_break(ls)) AS short_breaks_only
        FROM p
        GROUP BY child_id, period_no
    )
    SELECT p.*,
           pa.period_start,
           CASE WHEN pa.last_dec IS NOT NULL AND pa.last_rec IS DISTINCT FROM 'X1' THEN pa.last_dec END AS period_end,
           pa.short_breaks_only AS period_short_breaks_only
    FROM p JOIN pa ON pa.child_id = p.child_id AND pa.period_no = p.period_no;

-- Placement episodes for the stability measures (rules at the macro `placement_episodes()` below, which reads this):
-- stitched episodes minus V3/V4 with is_temporary, place_key, is_return, is_new_placement, is_carer_change.
CREATE OR REPLACE VIEW placement_episode AS
    WITH s AS (
        SELECT st.*,
               is_temporary_place(place) AS is_temporary,
               concat_ws('|', coalesce(place, ''), coalesce(place_provider, ''), coalesce(urn, ''),
                         coalesce(pl_post, '')) AS place_key
        FROM stitched_episode st
        WHERE NOT is_short_break(ls)
    ), pv AS (
        -- from the earlier episodes of the same period: whether the one just before is temporary, and the
        -- placement held before (the latest one not temporary); a join on the few episodes of a period is
        -- cheaper than a window
        SELECT x.child_id, x.seq, arg_max(q.is_temporary, q.seq) AS after_temporary,
               arg_max(q.place_key, q.seq) FILTER (WHERE NOT q.is_temporary) AS held_before_key
        FROM s x JOIN s q ON q.child_id = x.child_id AND q.period_no = x.period_no AND q.seq < x.seq
        GROUP BY x.child_id, x.seq
    ), w AS (
        SELECT s.*, coalesce(pv.after_temporary, FALSE) AS after_temporary, pv.held_before_key
        FROM s LEFT JOIN pv ON pv.child_id = s.child_id AND pv.seq = s.seq
    )
    SELECT w.* EXCLUDE (held_before_key, after_temporary),
           coalesce(NOT is_temporary AND after_temporary AND place_key = held_before_key, FALSE) AS is_return,
           (NOT is_temporary AND NOT coalesce(after_temporary AND place_key = held_before_key, FALSE)
            AND coalesce(rne IN ('S', 'P', 'B', 'T', 'U'), FALSE)) AS is_new_placement,
           (NOT is_temporary AND NOT coalesce(after_temporary AND place_key = held_before_key, FALSE)
            AND coalesce(rne IN ('S', 'P', 'B'), FALSE)) AS is_carer_change
    FROM w;

-- Episodes stitched into periods of care by the SQL itself (not trusting episode.period_id), so that every
-- duration measure uses one written-down rule (docs/measures.md, "Periods of care"):
--   * episodes of a child are ordered by DECOM, then DEC (open last), then episode_id; exact duplicates
--     (same child, DECOM, DEC, LS, PLACE, RNE) count once;
--   * an episode continues the period of the one before it when that one ended with REC = X1 (whatever gap
--     or overlap there is between them) or has no end date at all (an open episode overlapped by a newer one:
--     the newer one supersedes it), or has an end date but no REC and the new one starts on or before it;
--     any other REC ends the period, even if the next episode starts that day;
--   * the period ends at the last episode's DEC unless that episode ended X1 (X1 with no successor in the
--     data: the child is taken to be still looked after).
-- Columns: every episode column plus seq (order in the child's history), period_no (1, 2, ... per child),
-- period_start, period_end (DEC of the period's last episode unless its REC is X1; NULL = still looked after),
-- period_short_breaks_only, and prev_rec / prev_dec / prev_episode_id (the previous episode in the child's
-- history).
-- The stitching itself is the relation `stitched_episode` above, so the windows run once per build, not per query.
CREATE OR REPLACE MACRO episodes_stitched() AS TABLE SELECT * FROM stitched_episode;

-- Placement episodes for the stability measures: stitched episodes minus V3/V4 (short breaks), with flags
-- (rules in docs/measures.md, "Placements"):
--   is_temporary       PLACE is T0-T4 (a temporary placement). Never a new placement itself.
--   is_return          the episode comes straight after a temporary placement and goes back to the placement
--                      held before it (same PLACE, PLACE_PROVIDER, URN and PL_POST): not a new placement.
--   is_new_placement   not temporary, not a return, RNE in S, P, B, T, U (L never: legal status only).
--   is_carer_change    not temporary, not a return, RNE in S, P, B (T and U keep the carer).
-- The flags are worked out in the relation `placement_episode` above.
CREATE OR REPLACE MACRO placement_episodes() AS TABLE SELECT * FROM placement_episode;

-- Children looked after at date d, one row per child: the latest non-V3/V4 episode open at d (open_at rule).
CREATE OR REPLACE MACRO cla_on(d) AS TABLE
    SELECT * EXCLUDE (rn) FROM (
        SELECT st.*, row_number() OVER (PARTITION BY child_id ORDER BY decom DESC, seq DESC) AS rn
        FROM episodes_stitched() st
        WHERE NOT is_short_break(ls) AND open_at(decom, dec, d))
    WHERE rn = 1;

-- ---------------------------------------------------------------- allocation
-- Each child's allocated team as a time line: one row per span [valid_from, valid_to) over which the team_on
-- rule (macros.sql: the allocation open at d, the one that started last, then the highest team_id) gives the
-- same allocation; valid_to NULL = from valid_from on. No row = unallocated. The team changes only on a date
-- some allocation starts or ends, so the spans run between consecutive such dates and the allocation chosen at
-- a span's first day is the one chosen on every day of it. The team at date d is therefore the span with
-- open_at(valid_from, valid_to, d): at most one per child, no aggregation left for the measures.
CREATE OR REPLACE VIEW team_spell AS
    WITH b AS (
        SELECT child_id, start_date AS d FROM allocation
        UNION ALL
        SELECT child_id, end_date FROM allocation WHERE end_date IS NOT NULL
    ), s AS (
        -- of equal dates only the last in the order has a different date after it: one span per date, without
        -- a DISTINCT before the window
        SELECT * FROM (
            SELECT child_id, d AS valid_from, lead(d) OVER (PARTITION BY child_id ORDER BY d) AS valid_to FROM b)
        WHERE valid_to IS DISTINCT FROM valid_from
    )
    SELECT s.child_id, s.valid_from, s.valid_to,
           arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM s JOIN allocation a ON a.child_id = s.child_id AND open_at(a.start_date, a.end_date, s.valid_from)
    GROUP BY s.child_id, s.valid_from, s.valid_to;

-- ---------------------------------------------------------------- referrals (CIN)
-- One row per referral: a child referred twice on the same day is one referral (NFA only if every copy is; its
-- source that of the lowest cin_episode_id). With what the referral measures group by, worked out once:
-- census_year (the census year of the referral date), is_re_referral (another referral of the child in the 12
-- months before, as re_referrals defines it), the child's age band at the referral date, sex, ethnicity and
-- disability labels, and the team allocated on the referral date ('Unallocated' when none). For counting children
-- rather than referrals: first_in_year marks the child's first referral of the census year, first_age_band /
-- first_team / first_age_band_team the first of the year with that age band / team / both (so a margin keeping
-- only age band counts each child once per age band, and so on).
CREATE OR REPLACE VIEW referral AS
    WITH r AS (
        SELECT child_id, referral_date, bool_and(referral_nfa) AS nfa,
               arg_min(referral_source, cin_episode_id) AS source_code
        FROM cin_episode
        GROUP BY child_id, referral_date
    ), prev AS (
        SELECT DISTINCT r.child_id, r.referral_date
        FROM r JOIN r p
          ON p.child_id = r.child_id
         AND p.referral_date < r.referral_date
         AND p.referral_date >= r.referral_date - INTERVAL 12 MONTH
    ), g AS (
        SELECT r.child_id, r.referral_date, census_year_of(r.referral_date) AS census_year, r.nfa, r.source_code,
               prev.child_id IS NOT NULL AS is_re_referral,
               child_age_band(c.dob, c.expected_dob, r.referral_date) AS age_band,
               sex_label(c.sex) AS sex,
               ethnicity_label(c.ethnicity_group) AS ethnicity_group,
               disability_label(c.is_disabled) AS disability,
               coalesce(ts.team, 'Unallocated') AS team
        FROM r
        LEFT JOIN prev USING (child_id, referral_date)
        LEFT JOIN child c USING (child_id)
        LEFT JOIN team_spell ts
          ON ts.child_id = r.child_id AND open_at(ts.valid_from, ts.valid_to, r.referral_date)
    ), multi AS (
        -- the first_* flags are all TRUE for a child's only referral of the year, so they are worked out for the
        -- children referred more than once in the year alone (aggregates and joins: cheaper than windows)
        SELECT child_id, census_year FROM g GROUP BY child_id, census_year HAVING count(*) > 1
    ), m AS (
        SELECT g.child_id, g.census_year, g.age_band, g.team, g.referral_date
        FROM g SEMI JOIN multi ON multi.child_id = g.child_id AND multi.census_year = g.census_year
    ), b AS (
        -- the first referral (one per child and date) of the year (bit 1), of the year and age band (2), of the
        -- year and team (4), of the year, age band and team (8)
        SELECT child_id, min(referral_date) AS d, 1 AS bit FROM m GROUP BY child_id, census_year
        UNION ALL SELECT child_id, min(referral_date), 2 FROM m GROUP BY child_id, census_year, age_band
        UNION ALL SELECT child_id, min(referral_date), 4 FROM m GROUP BY child_id, census_year, team
        UNION ALL SELECT child_id, min(referral_date), 8 FROM m GROUP BY child_id, census_year, age_band, team
    ), f AS (
        SELECT m.child_id, m.referral_date, coalesce(sum(b.bit), 0) AS bits
        FROM m LEFT JOIN b ON b.child_id = m.child_id AND b.d = m.referral_date
        GROUP BY m.child_id, m.referral_date
    )
    SELECT g.*,
           coalesce(f.bits & 1 = 1, TRUE) AS first_in_year, coalesce(f.bits & 2 = 2, TRUE) AS first_age_band,
           coalesce(f.bits & 4 = 4, TRUE) AS first_team, coalesce(f.bits & 8 = 8, TRUE) AS first_age_band_team
    FROM g LEFT JOIN f ON f.child_id = g.child_id AND f.referral_date = g.referral_date;

-- ---------------------------------------------------------------- children at 31 March
-- The census years over which anything a child can be "open" in changes: first_year is a year whose 31 March is
-- before every start date (nothing open then or before), last_year one whose 31 March is on or after every date
-- (what is open then stays open, and the team stays the same, on every later 31 March). Whole warehouse, not per
-- child: the bounds hold as well for any subset of children (the planning population).
CREATE OR REPLACE VIEW census_span AS
    SELECT census_year_of(min(d_first)) - 1 AS first_year, census_year_of(max(d_last)) AS last_year
    FROM (
        SELECT min(referral_date) AS d_first, greatest(max(referral_date), max(closure_date)) AS d_last
        FROM cin_episode
        UNION ALL SELECT min(start_date), greatest(max(start_date), max(end_date)) FROM cp_plan
        UNION ALL SELECT min(decom), greatest(max(decom), max(dec)) FROM episode
        UNION ALL SELECT min(start_date), greatest(max(start_date), max(end_date)) FROM allocation
    );

-- The census year whose row in child_census describes 31 March of year y: y itself within census_span, else
-- the nearest bound (the same children open, in the same teams). materialise() redefines it with the bounds as
-- constants, so that `census_year = census_clamp($census_year)` is a constant the scan can skip row groups by.
CREATE OR REPLACE MACRO census_clamp(y) AS
    greatest(least(CAST(y AS INTEGER), (SELECT last_year FROM census_span)), (SELECT first_year FROM census_span));

-- One row per census year (census_span) and child with an open CIN episode (not NFA), an open CP plan, or looked
-- after (the cla_on rule) at 31 March, with what the "at 31 March" measures group by: the open CIN episode's
-- primary need (the latest referral's; cin_need), the open CP plan's latest category (the latest plan's;
-- cp_category), the cla_on episode's legal status, placement, seq, period_no and period_start (cla_*), the team at
-- 31 March ('Unallocated' when none), and the child's dob / expected_dob (the age band depends on the year asked
-- for, so it is worked out by the query), sex, ethnicity and disability labels. Read it with
-- `census_year = census_clamp($census_year)`.
CREATE OR REPLACE VIEW child_census AS
    WITH y AS (
        SELECT CAST(range AS INTEGER) AS census_year, census_end(range) AS d
        FROM census_span, range(first_year, last_year + 1)
    ), o AS (
        -- what is open on each 31 March, as one input to one aggregate (src 1: CIN, 2: CP plan, 3: looked after)
        -- instead of three aggregates, a union of their keys and three joins. k orders as the pair (date, id)
        -- does (an INTEGER id is within 2^31 either side of 0, less than the 2^32 a day adds) and is cheaper to
        -- compare than a STRUCT.
        SELECT y.census_year, e.child_id, 1 AS src, e.primary_need AS v,
               CAST(e.referral_date - DATE '1970-01-01' AS HUGEINT) * 4294967296 + e.cin_episode_id AS k,
               NULL AS seq
        FROM y JOIN cin_episode e ON NOT e.referral_nfa AND open_at(e.referral_date, e.closure_date, y.d)
        UNION ALL
        SELECT y.census_year, p.child_id, 2, p.latest_category,
               CAST(p.start_date - DATE '1970-01-01' AS HUGEINT) * 4294967296 + p.cp_plan_id, NULL
        FROM y JOIN cp_plan p ON open_at(p.start_date, p.end_date, y.d)
        UNION ALL
        SELECT y.census_year, st.child_id, 3, NULL, NULL, st.seq
        FROM y JOIN stitched_episode st ON NOT is_short_break(st.ls) AND open_at(st.decom, st.dec, y.d)
    ), k AS (
        -- the cla_on episode (latest DECOM, then latest seq) is the one with the highest seq: seq orders a
        -- child's episodes by DECOM first
        SELECT census_year, child_id,
               bool_or(src = 1) AS cin_open, arg_max(v, k) FILTER (WHERE src = 1) AS cin_need,
               bool_or(src = 2) AS cp_open, arg_max(v, k) FILTER (WHERE src = 2) AS cp_category,
               max(seq) AS cla_seq
        FROM o
        GROUP BY census_year, child_id
    )
    SELECT k.census_year, k.child_id,
           k.cin_open, k.cin_need, k.cp_open, k.cp_category,
           cla.child_id IS NOT NULL AS cla_open, cla.episode_id AS cla_episode_id, cla.ls AS cla_ls,
           cla.place AS cla_place, cla.seq AS cla_seq, cla.period_no AS cla_period_no,
           cla.period_start AS cla_period_start,
           coalesce(ts.team, 'Unallocated') AS team,
           c.dob, c.expected_dob,
           sex_label(c.sex) AS sex,
           ethnicity_label(c.ethnicity_group) AS ethnicity_group,
           disability_label(c.is_disabled) AS disability
    FROM k
    JOIN y USING (census_year)
    LEFT JOIN stitched_episode cla ON cla.child_id = k.child_id AND cla.seq = k.cla_seq
    LEFT JOIN child c ON c.child_id = k.child_id
    LEFT JOIN team_spell ts ON ts.child_id = k.child_id AND open_at(ts.valid_from, ts.valid_to, y.d);

-- ---------------------------------------------------------------- the case list (children_list)
-- One row per census year and child active in it (a CIN episode, CP plan or 903 episode overlapping 1 April to
-- 31 March), with everything the case list shows: identifiers and characteristics as recorded (person_identifier
-- and child, LEFT joined: a child without them still listed), the team and worker of the latest allocation
-- overlapping the year (latest start, then highest team id, then highest worker id; 'Unallocated' and NULL when
-- none), the status at 31 March from child_census, and list_pos, the child's place in the list's order (family
-- name, given name, NULLs last, then child_id), so the list is read by year and sorted by one integer.
-- Why the identifiers are copied here: the whole-authority list at national scale is a million rows; joining
-- child and person_identifier and sorting by name per query took seconds. This is the same warehouse file under
-- the same gate: the query's header still names person_identifier.* as each column's source, so the gate
-- classifies the columns exactly as before, and the planning view leaves objectors out as it does for every
-- relation here. Not a table of the workbench's mart (only classified tables are).
-- Each record counts in census years y with census_year_of(start) <= y <= census_year_of(end) (the overlap test
-- start <= 31 March y and end >= 1 April y-1); an allocation while its end_date > 1 April y-1, i.e. up to
-- census_year_of(end_date - 1). What is still open counts up to census_span.last_year + 1, after which every
-- later year lists the same children in the same teams (nothing starts or ends any more): read it with
-- `census_year = case_list_year($census_year)`. Years before the data have no rows, as the query had none.
-- Per child throughout (list_pos only orders children, so leaving some out keeps the others' order).
CREATE OR REPLACE VIEW case_list AS
    WITH span AS (SELECT last_year FROM census_span),
    act AS (
        -- active in the year: some record that is not an allocation
        SELECT DISTINCT CAST(unnest(range(ys, coalesce(ye, span.last_year + 1) + 1)) AS INTEGER) AS census_year,
               child_id
        FROM (
            SELECT child_id, census_year_of(referral_date) AS ys, census_year_of(closure_date) AS ye
            FROM cin_episode
            UNION ALL SELECT child_id, census_year_of(start_date), census_year_of(end_date) FROM cp_plan
            UNION ALL SELECT child_id, census_year_of(decom), census_year_of(dec) FROM episode
        ), span
        WHERE ys IS NOT NULL
    ), al AS (
        -- the greatest (start, team, worker) of the allocations overlapping the year: its team is
        -- arg_max(team_id, alloc_rank(start_date, team_id))
        SELECT census_year, child_id, max(alloc) AS alloc
        FROM (
            SELECT child_id, CAST(unnest(range(ys, coalesce(ye, span.last_year + 1) + 1)) AS INTEGER) AS census_year,
                   alloc
            FROM (
                SELECT child_id, census_year_of(start_date) AS ys, census_year_of(end_date - 1) AS ye,
                       {'start_date': start_date, 'team_id': team_id, 'worker_id': worker_id} AS alloc
                FROM allocation
            ), span
            WHERE ys IS NOT NULL
        )
        GROUP BY census_year, child_id
    ), cy AS (
        SELECT act.census_year, act.child_id, al.alloc FROM act LEFT JOIN al USING (census_year, child_id)
    ), pos AS (
        -- the list's order on the names alone, joined to the other identifiers after (a narrower sort)
        SELECT k.child_id,
               row_number() OVER (ORDER BY pi.family_name NULLS LAST, pi.given_name NULLS LAST, k.child_id)
                   AS list_pos
        FROM (SELECT DISTINCT child_id FROM act) k
        LEFT JOIN person_identifier pi USING (child_id)
    ), who AS (
        SELECT pos.child_id, pi.given_name, pi.family_name, c.dob, c.sex, c.ethnicity, pi.postcode, pi.nhs_number,
               coalesce(c.upn, pi.upn) AS upn, pos.list_pos
        FROM pos
        LEFT JOIN child c USING (child_id)
        LEFT JOIN person_identifier pi USING (child_id)
    )
    SELECT cy.census_year, cy.child_id, who.given_name, who.family_name, who.dob, who.sex, who.ethnicity,
           who.postcode, who.nhs_number, who.upn,
           coalesce(cy.alloc.team_id, 'Unallocated') AS team, cy.alloc.worker_id AS worker,
           coalesce(cc.cin_open, FALSE) AS cin_open, coalesce(cc.cp_open, FALSE) AS cp_open,
           coalesce(cc.cla_open, FALSE) AS looked_after,
           who.list_pos
    FROM cy
    CROSS JOIN span
    JOIN who USING (child_id)
    -- the status at 31 March: child_census, whose last year stands for every later one
    LEFT JOIN child_census cc ON cc.child_id = cy.child_id AND cc.census_year = least(cy.census_year, span.last_year);

-- The census year whose rows in case_list answer for year y: y itself up to census_span.last_year + 1, that year
-- after it (NULL for NULL: nothing listed). materialise() redefines it with the bound as a constant, so the scan
-- of case_list (stored by census_year) skips every other year's row groups.
CREATE OR REPLACE MACRO case_list_year(y) AS
    CASE WHEN y IS NOT NULL THEN least(CAST(y AS INTEGER), (SELECT last_year FROM census_span) + 1) END;

-- One row per CIN episode with where its referral led, for intervention_flows: census_year of the referral date,
-- whether the episode has an assessment, a section 47 enquiry, a CIN plan, a CP plan (each a record of the same
-- episode, hence of the same child), whether the child started to be looked after (an S episode, V3/V4 left out)
-- between the referral date and the end of that census year, and the team on the referral date.
CREATE OR REPLACE VIEW cin_episode_flow AS
    SELECT e.cin_episode_id, e.child_id, census_year_of(e.referral_date) AS census_year, e.referral_nfa,
           e.cin_episode_id IN (SELECT cin_episode_id FROM assessment) AS has_asmt,
           e.cin_episode_id IN (SELECT cin_episode_id FROM section47) AS has_s47,
           e.cin_episode_id IN (SELECT cin_episode_id FROM cin_plan) AS has_cinp,
           e.cin_episode_id IN (SELECT cin_episode_id FROM cp_plan) AS has_cpp,
           e.cin_episode_id IN (
               SELECT r.cin_episode_id
               FROM cin_episode r JOIN episode x
                 ON x.child_id = r.child_id AND x.rne = 'S' AND NOT is_short_break(x.ls)
                AND x.decom BETWEEN r.referral_date AND census_end(census_year_of(r.referral_date))
           ) AS looked_after_in_year,
           rf.team
    FROM cin_episode e
    LEFT JOIN referral rf ON rf.child_id = e.child_id AND rf.referral_date = e.referral_date;

-- ---------------------------------------------------------------- children on event dates
-- One row per child and date on which a measure groups an event by what the child was that day: assessment
-- authorisation, initial child protection conference, CP plan start and end, 903 episode start (DECOM), end of a
-- period of care, and 31 March of a census year in which the child went missing. With the census year of the date, the child's age band that day, sex, ethnicity and disability
-- labels and the team allocated that day ('Unallocated' when none). Join it on (child_id, d) and
-- census_year = $census_year.
CREATE OR REPLACE VIEW child_day AS
    WITH d AS (
        SELECT child_id, authorisation_date AS d FROM assessment WHERE authorisation_date IS NOT NULL
        UNION SELECT child_id, icpc_date FROM section47 WHERE icpc_date IS NOT NULL
        UNION SELECT child_id, start_date FROM cp_plan
        UNION SELECT child_id, end_date FROM cp_plan WHERE end_date IS NOT NULL
        UNION SELECT child_id, decom FROM episode
        UNION SELECT child_id, period_end FROM stitched_episode WHERE period_end IS NOT NULL
        UNION SELECT child_id, census_end(census_year_of(start_date)) FROM missing_episode
    )
    SELECT d.child_id, d.d, census_year_of(d.d) AS census_year,
           child_age_band(c.dob, c.expected_dob, d.d) AS age_band,
           sex_label(c.sex) AS sex,
           ethnicity_label(c.ethnicity_group) AS ethnicity_group,
           disability_label(c.is_disabled) AS disability,
           coalesce(ts.team, 'Unallocated') AS team
    FROM d
    LEFT JOIN child c USING (child_id)
    LEFT JOIN team_spell ts ON ts.child_id = d.child_id AND open_at(ts.valid_from, ts.valid_to, d.d);

-- ---------------------------------------------------------------- assessments (assessment_timeliness)
-- One row per distinct assessment authorised on some date (same child, start and authorisation date count once),
-- with the census_year of the authorisation date, the working days from start to authorisation (working_days:
-- the start day is day 1; NULL without a start date or when authorised before it), the DfE duration band, and
-- the child's age band, sex and disability labels and team on the authorisation date (child_day). The calendar
-- look-up is the costly part of the measure and depends on the two dates alone, so it runs once per build (once
-- per distinct pair of dates, the bank holidays counted from a running count looked up once per date), not per
-- query.
CREATE OR REPLACE VIEW assessment_span AS
    WITH a AS (
        SELECT DISTINCT child_id, start_date, authorisation_date
        FROM assessment
        WHERE authorisation_date IS NOT NULL
    ), p AS (
        SELECT DISTINCT start_date AS s, authorisation_date AS e FROM a
    ), x AS (
        SELECT e AS x FROM p WHERE s <= e
        UNION SELECT s - 1 FROM p WHERE s <= e
    ), h AS (
        SELECT holiday_date, row_number() OVER (ORDER BY holiday_date) AS n
        FROM bank_holiday WHERE isodow(holiday_date) < 6
    ), c AS (
        -- weekday bank holidays on or before each date x, from the latest one (ASOF)
        SELECT x.x, coalesce(h.n, 0) AS n FROM x ASOF LEFT JOIN h ON h.holiday_date <= x.x
    ), d AS (
        -- working_days(s, e) (macros.sql: working_days_given) with its holidays in [s, e] counted as
        -- c(e) - c(s - 1): one look-up per distinct date instead of a range join of every pair of dates with the
        -- calendar
        SELECT p.s, p.e, working_days_given(p.s, p.e, ce.n - cs.n) AS wd
        FROM p
        LEFT JOIN c ce ON ce.x = p.e AND p.s <= p.e
        LEFT JOIN c cs ON cs.x = p.s - 1 AND p.s <= p.e
    )
    SELECT census_year_of(a.authorisation_date) AS census_year, a.child_id, a.start_date, a.authorisation_date,
           d.wd,
           assessment_band(a.start_date, a.authorisation_date, d.wd) AS duration_band,
           cd.age_band, cd.sex, cd.disability, cd.team
    FROM a
    LEFT JOIN d ON d.s IS NOT DISTINCT FROM a.start_date AND d.e = a.authorisation_date
    LEFT JOIN child_day cd ON cd.child_id = a.child_id AND cd.d = a.authorisation_date;
