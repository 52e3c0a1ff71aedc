-- The warehouse schema: the one contract between loading (dashboard/warehouse/build.py), the measures
-- (queries/*.sql) and the policy (access_policies/columns.yml classifies every column below).
-- Every COMMENT is the column's documented meaning; `build` copies them into the column_doc table.
-- Codes are stored as the returns send them (upper case, trimmed); labels live in code_lookup.
-- Child identity: child_id is the council's child identifier (903 CHILD / CHILDID = CIN LAchildID).

-- ---------------------------------------------------------------- people
CREATE TABLE child (
    child_id        VARCHAR PRIMARY KEY,
    sex             VARCHAR,          -- one coding for every year: M, F or U (903 1/2 and CIN 1/2/0/9 mapped)
    dob             DATE,
    ethnicity       VARCHAR,          -- 903 ETHNIC / CIN Ethnicity code (code_lookup 'ethnicity')
    ethnicity_group VARCHAR,          -- White, Mixed, Asian, Black, Other, Not known (derived from ethnicity)
    upn             VARCHAR,          -- unique pupil number (direct identifier)
    former_upn      VARCHAR,
    upn_unknown     VARCHAR,          -- UN1..UN10 reason when no UPN
    death_date      DATE,
    expected_dob    DATE,             -- unborn children: expected date of birth
    is_disabled     BOOLEAN NOT NULL DEFAULT FALSE,  -- any CIN disability code other than NONE
    mother          BOOLEAN,          -- 903 MOTHER: the child is a mother
    mc_dob          DATE,             -- 903 MC_DOB: date of birth of the mother's child
    uasc_duc        DATE,             -- 903 UASC DUC: date unaccompanied asylum-seeking child status ceases
    source          VARCHAR NOT NULL  -- 'cin', '903' or 'cin+903': which returns know this child
);

CREATE TABLE disability (
    child_id        VARCHAR NOT NULL,
    disability      VARCHAR NOT NULL  -- CIN disability code (code_lookup 'disability')
);

-- Direct identifiers held only in the local case-management extract.
CREATE TABLE person_identifier (
    child_id        VARCHAR PRIMARY KEY,
    given_name      VARCHAR,
    family_name     VARCHAR,
    address         VARCHAR,          -- first line(s) of address
    postcode        VARCHAR,
    postcode_district VARCHAR,        -- outward code (e.g. 'LS6'), the coarsened form of postcode
    nhs_number      VARCHAR,
    upn             VARCHAR
);

-- ---------------------------------------------------------------- CIN census
CREATE TABLE cin_episode (
    cin_episode_id  INTEGER PRIMARY KEY,  -- surrogate, stable for the same inputs
    child_id        VARCHAR NOT NULL,
    referral_date   DATE NOT NULL,
    referral_source VARCHAR,          -- code_lookup 'referral_source'
    primary_need    VARCHAR,          -- N0..N9 (code_lookup 'primary_need')
    closure_date    DATE,
    closure_reason  VARCHAR,          -- RC1..RC9 (code_lookup 'closure_reason')
    referral_nfa    BOOLEAN NOT NULL, -- referral led to no further action
    census_year     INTEGER NOT NULL  -- year (ending 31 March) of the latest census that carried this episode
);

CREATE TABLE assessment (
    assessment_id   INTEGER PRIMARY KEY,
    cin_episode_id  INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    start_date      DATE,
    internal_review_date DATE,
    authorisation_date DATE
);

CREATE TABLE assessment_factor (
    assessment_id   INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    factor          VARCHAR NOT NULL  -- code_lookup 'assessment_factor'
);

CREATE TABLE cin_plan (
    cin_plan_id     INTEGER PRIMARY KEY,
    cin_episode_id  INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    start_date      DATE NOT NULL,
    end_date        DATE
);

CREATE TABLE section47 (
    s47_id          INTEGER PRIMARY KEY,
    cin_episode_id  INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    start_date      DATE NOT NULL,    -- S47ActualStartDate (strategy discussion)
    icpc_target     DATE,
    icpc_date       DATE,             -- DateOfInitialCPC within the Section47 block
    icpc_not_required BOOLEAN NOT NULL
);

CREATE TABLE cp_plan (
    cp_plan_id      INTEGER PRIMARY KEY,
    cin_episode_id  INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    start_date      DATE NOT NULL,
    end_date        DATE,
    initial_category VARCHAR,         -- NEG, PHY, SAB, EMO, MUL
    latest_category VARCHAR,
    previous_cpp    INTEGER           -- NumberOfPreviousCPP as returned
);

CREATE TABLE cp_review (
    cp_plan_id      INTEGER NOT NULL,
    child_id        VARCHAR NOT NULL,
    review_date     DATE NOT NULL
);

-- ---------------------------------------------------------------- SSDA903
CREATE TABLE episode (
    episode_id      INTEGER PRIMARY KEY,
    child_id        VARCHAR NOT NULL,
    decom           DATE NOT NULL,    -- episode start
    rne             VARCHAR,          -- reason for new episode (code_lookup 'rne')
    ls              VARCHAR,          -- legal status (code_lookup 'legal_status')
    cin             VARCHAR,          -- category of need N1..N8
    place           VARCHAR,          -- placement type (code_lookup 'placement')
    place_provider  VARCHAR,
    dec             DATE,             -- episode end (NULL while open)
    rec             VARCHAR,          -- reason episode ceased (code_lookup 'rec'); X1 = continues next day
    reason_place_change VARCHAR,
    home_post       VARCHAR,          -- postcode of the home the child was taken from (quasi-identifier)
    pl_post         VARCHAR,          -- postcode of the placement (quasi-identifier)
    urn             VARCHAR,          -- Ofsted URN of the placement
    period_id       INTEGER NOT NULL, -- the period of care this episode belongs to
    return_year     INTEGER NOT NULL  -- year (ending 31 March) of the 903 return this row came from
);

CREATE TABLE period_of_care (
    period_id       INTEGER PRIMARY KEY,
    child_id        VARCHAR NOT NULL,
    start_date      DATE NOT NULL,    -- DECOM of the first episode
    end_date        DATE,             -- DEC of the last episode (REC not X1); NULL while looked after
    end_reason      VARCHAR,          -- REC of the last episode
    episodes        INTEGER NOT NULL,
    short_breaks_only BOOLEAN NOT NULL  -- every episode is V3/V4
);

CREATE TABLE cla_review (
    child_id        VARCHAR NOT NULL,
    review_date     DATE NOT NULL,
    review_code     VARCHAR            -- PN0..PN7
);

CREATE TABLE missing_episode (
    child_id        VARCHAR NOT NULL,
    missing_type    VARCHAR NOT NULL,  -- M missing, A away from placement without authorisation
    start_date      DATE NOT NULL,
    end_date        DATE
);

CREATE TABLE sw_episode (
    child_id        VARCHAR NOT NULL,
    sw_id           VARCHAR NOT NULL,  -- social worker identifier (a person id: pseudonymised for planning)
    start_date      DATE NOT NULL,
    end_date        DATE,
    reason          VARCHAR            -- SW_REASON
);

CREATE TABLE oc2 (
    child_id        VARCHAR NOT NULL,
    return_year     INTEGER NOT NULL,
    sdq_score       INTEGER,
    sdq_reason      VARCHAR,
    convicted       BOOLEAN,
    health_check    BOOLEAN,
    immunisations   BOOLEAN,
    teeth_check     BOOLEAN,
    health_assessment BOOLEAN,
    substance_misuse BOOLEAN,
    intervention_received BOOLEAN,
    intervention_offered BOOLEAN
);

CREATE TABLE oc3 (
    child_id        VARCHAR NOT NULL,
    return_year     INTEGER NOT NULL,
    in_touch        VARCHAR,
    activity        VARCHAR,
    accommodation   VARCHAR
);

CREATE TABLE adoption (
    child_id        VARCHAR NOT NULL,
    date_int        DATE,              -- AD1 DATE_INT: decision that the child should be placed for adoption
    date_match      DATE,
    foster_care     BOOLEAN,
    nb_adoptr       INTEGER,
    sex_adoptr      VARCHAR,
    ls_adoptr       VARCHAR
);

CREATE TABLE placed_adoption (
    child_id        VARCHAR NOT NULL,
    date_placed     DATE,
    date_placed_ceased DATE,
    reason_placed_ceased VARCHAR
);

CREATE TABLE previous_permanence (
    child_id        VARCHAR NOT NULL,
    prev_perm       VARCHAR,
    la_perm         VARCHAR,
    date_perm       VARCHAR            -- kept as returned: may be a full date or a partial one
);

-- ---------------------------------------------------------------- local extracts
CREATE TABLE team (
    team_id         VARCHAR PRIMARY KEY,
    team_name       VARCHAR NOT NULL,
    locality        VARCHAR NOT NULL
);

CREATE TABLE allocation (
    child_id        VARCHAR NOT NULL,
    team_id         VARCHAR NOT NULL,
    worker_id       VARCHAR NOT NULL,  -- the allocated social worker (same id space as sw_episode.sw_id)
    start_date      DATE NOT NULL,
    end_date        DATE               -- NULL while allocated
);

CREATE TABLE objection (
    child_id        VARCHAR NOT NULL,
    recorded_date   DATE NOT NULL,     -- when the family's objection to use beyond direct care was recorded
    scope           VARCHAR NOT NULL   -- 'non_care' (all uses beyond direct care)
);

CREATE TABLE school_move (
    child_id        VARCHAR NOT NULL,
    move_date       DATE NOT NULL,     -- first day at the new school
    from_urn        VARCHAR,
    to_urn          VARCHAR,
    from_phase      VARCHAR,           -- primary, secondary, special, alternative
    to_phase        VARCHAR
);

CREATE TABLE population (
    mid_year        INTEGER NOT NULL,  -- ONS mid-year estimate year (the census year ending 31 March Y uses mid-year Y-1)
    age             INTEGER NOT NULL,  -- 0..17
    sex             VARCHAR NOT NULL,  -- M or F
    population      INTEGER NOT NULL
);

-- ---------------------------------------------------------------- about the build
CREATE TABLE code_lookup (
    code_set        VARCHAR NOT NULL,
    code            VARCHAR NOT NULL,
    label           VARCHAR NOT NULL
);

CREATE TABLE data_quality (
    file            VARCHAR NOT NULL,  -- path of the source file as given to build
    row_number      INTEGER,           -- 1-based data row (CSV: excluding the header; XML: the element's line)
    record          VARCHAR,           -- table or XML element the problem is in
    field           VARCHAR,
    rule            VARCHAR NOT NULL,  -- short rule id, e.g. bad_date, unknown_code, end_before_start, orphan
    value           VARCHAR,
    action          VARCHAR NOT NULL,  -- what the build did: kept, set_null, dropped, superseded, merged
    message         VARCHAR NOT NULL
);

CREATE TABLE source_file (
    file            VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,  -- e.g. 903_csv:episodes, 903_xml, cin_xml, local:allocation
    return_year     INTEGER,
    rows            INTEGER NOT NULL,
    sha256          VARCHAR NOT NULL
);

CREATE TABLE build_info (
    key             VARCHAR PRIMARY KEY,
    value           VARCHAR NOT NULL
);

CREATE TABLE column_doc (
    table_name      VARCHAR NOT NULL,
    column_name     VARCHAR NOT NULL,
    data_type       VARCHAR NOT NULL,
    meaning         VARCHAR NOT NULL
);

CREATE TABLE bank_holiday (
    holiday_date    DATE PRIMARY KEY,  -- England and Wales bank holidays (from the `holidays` library)
    name            VARCHAR NOT NULL
);
