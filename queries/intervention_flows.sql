-- title: Flows between interventions
-- definition: >
--   What followed the referrals made in the census year, as links between stages for a Sankey diagram: each
--   row is a link (source stage -> target stage) with the distinct children whose referral (CIN episode) took
--   it. Referral -> No further action (referral marked NFA) / Assessment / Section 47 (no assessment recorded) /
--   Awaiting or no assessment; Assessment -> Section 47 / CIN plan (no S47) / No further action (no S47 and no
--   plan); Section 47 -> CP plan / CIN plan (no CP plan) / No further action (neither); CP plan or CIN plan
--   -> Looked after (the child started to be looked after, RNE S, V3/V4 left out, between the referral and
--   31 March). Stages belong to the same CIN episode, whenever in or after the year they happened. Rows with
--   source and target both not 'Total' are the links; the margins count distinct children leaving a stage
--   (target Total) or entering one (source Total); Total/Total is the children referred in the year.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CIN episode modules: referral, assessment, S47,
--   CIN plan, CP plan); SSDA903 2024 to 2025 guide (RNE S).
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [source, target, team]
-- columns:
--   - {name: source, kind: dimension, label: From}
--   - {name: target, kind: dimension, label: To}
--   - {name: team, kind: dimension, label: Team at referral}
--   - {name: children, kind: count, label: Children}
WITH r AS (
    SELECT cin_episode_id, child_id, referral_date, referral_nfa
    FROM cin_episode WHERE in_census_year(referral_date, $census_year)
),
f AS (
    SELECT r.*,
           r.cin_episode_id IN (SELECT cin_episode_id FROM assessment) AS has_asmt,
           r.cin_episode_id IN (SELECT cin_episode_id FROM section47) AS has_s47,
           r.cin_episode_id IN (SELECT cin_episode_id FROM cin_plan) AS has_cinp,
           r.cin_episode_id IN (SELECT cin_episode_id FROM cp_plan) AS has_cpp
    FROM r
),
lac AS (
    SELECT DISTINCT r.cin_episode_id
    FROM r JOIN episode e ON e.child_id = r.child_id AND e.rne = 'S' AND NOT is_short_break(e.ls)
                          AND e.decom BETWEEN r.referral_date AND census_end($census_year)
),
rt AS (
    SELECT r.cin_episode_id, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM r JOIN allocation a ON a.child_id = r.child_id AND open_at(a.start_date, a.end_date, r.referral_date)
    -- the event date is in the year, so only allocations overlapping the year can be open on it
    WHERE a.start_date <= census_end($census_year)
      AND (a.end_date IS NULL OR a.end_date > census_start($census_year))
    GROUP BY r.cin_episode_id
),
links AS (
    SELECT child_id, cin_episode_id, 'Referral' AS source,
           CASE WHEN referral_nfa THEN 'No further action'
                WHEN has_asmt THEN 'Assessment'
                WHEN has_s47 THEN 'Section 47'
                ELSE 'Awaiting or no assessment' END AS target
    FROM f
    UNION ALL
    SELECT child_id, cin_episode_id, 'Assessment',
           CASE WHEN has_s47 THEN 'Section 47' WHEN has_cinp THEN 'CIN plan' WHEN has_cpp THEN 'CP plan'
                ELSE 'No further action' END
    FROM f WHERE has_asmt AND NOT referral_nfa
    UNION ALL
    SELECT child_id, cin_episode_id, 'Section 47',
           CASE WHEN has_cpp THEN 'CP plan' WHEN has_cinp THEN 'CIN plan' ELSE 'No further action' END
    FROM f WHERE has_s47 AND NOT referral_nfa
    UNION ALL
    SELECT f.child_id, f.cin_episode_id, CASE WHEN f.has_cpp THEN 'CP plan' ELSE 'CIN plan' END, 'Looked after'
    FROM f SEMI JOIN lac USING (cin_episode_id)
    WHERE (f.has_cpp OR f.has_cinp) AND NOT f.referral_nfa
),
base AS (
    SELECT links.child_id, links.source AS source_v, links.target AS target_v,
           coalesce(rt.team, 'Unallocated') AS team_v
    FROM links LEFT JOIN rt USING (cin_episode_id)
),
-- Distinct children per cell without GROUP BY CUBE's DISTINCT aggregation over every link per grouping set:
-- each kind of link (source, target) gets a bit; each child gets the set of its links' bits, per team and
-- overall (two aggregations). A cell counts the children whose set meets the cell's bits (one link kind, every
-- kind from a source, every kind to a target, or any), summed over the few distinct (team, set) pairs.
-- Same cells and counts as GROUP BY CUBE (source_v, target_v, team_v) with count(DISTINCT child_id).
kinds AS (
    SELECT source_v, target_v, CAST(1 AS BIGINT) << CAST(row_number() OVER (ORDER BY source_v, target_v) - 1 AS INTEGER) AS bit
    FROM (SELECT DISTINCT source_v, target_v FROM base)
),
per_team AS (
    SELECT b.child_id, b.team_v, bit_or(k.bit) AS bits
    FROM base b JOIN kinds k USING (source_v, target_v)
    GROUP BY b.child_id, b.team_v
),
sets AS (
    SELECT TRUE AS team_kept, team_v, bits, count(*) AS n FROM per_team GROUP BY ALL
    UNION ALL
    SELECT FALSE, NULL, bits, count(*)
    FROM (SELECT child_id, bit_or(bits) AS bits FROM per_team GROUP BY child_id)
    GROUP BY ALL
),
cell_bits AS (
    SELECT 3 AS kept, source_v AS source, target_v AS target, bit AS mask FROM kinds
    UNION ALL SELECT 2, source_v, 'Total', bit_or(bit) FROM kinds GROUP BY source_v
    UNION ALL SELECT 1, 'Total', target_v, bit_or(bit) FROM kinds GROUP BY target_v
    UNION ALL SELECT 0, 'Total', 'Total', bit_or(bit) FROM kinds HAVING count(*) > 0
)
SELECT cb.source, cb.target, CASE WHEN s.team_kept THEN s.team_v ELSE 'Total' END AS team,
       CAST(sum(s.n) AS BIGINT) AS children
FROM cell_bits cb JOIN sets s ON s.bits & cb.mask <> 0
GROUP BY cb.kept, s.team_kept, cb.source, cb.target, team
UNION ALL
-- no referral in scope: the grand total alone, zero (as CUBE gives)
SELECT 'Total', 'Total', 'Total', CAST(0 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM base)
ORDER BY ALL
