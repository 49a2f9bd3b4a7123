-- The benchmark database: an STGY-like schema filled with generated, deterministic data.
--
-- psql -v scale=S -v seed=F -f bench/dataset.sql   (F in [-1, 1]; scale 1 is about 1 GB on disk)
--
-- Text is word salad: sentences drawn from a vocabulary of pseudo-words with a skewed (Zipf-like)
-- word frequency, so gzip compresses post bodies about as well as real prose, not like repeated
-- strings. Every value comes from setseed() + random() in one serial session (parallel query is
-- off), so the same scale and seed give the same rows. Secondary indexes, foreign keys and
-- triggers are created after the bulk load (as a restore would), then the counters the triggers
-- maintain are filled in one pass.

\set ON_ERROR_STOP on
SET max_parallel_workers_per_gather = 0;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SELECT setseed(:seed);

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.email AS text CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');

CREATE TABLE app.users (
    id bigint PRIMARY KEY,
    nickname varchar(50) NOT NULL,
    email app.email,
    mood app.mood DEFAULT 'ok',
    introduction text,
    avatar bytea,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    nickname_lower text GENERATED ALWAYS AS (lower(nickname)) STORED
);
CREATE TABLE app.posts (
    id integer PRIMARY KEY,
    owned_by bigint NOT NULL,
    reply_to integer,
    content text NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'public' CHECK (status IN ('draft', 'public')),
    score numeric(10, 2),
    created_at timestamptz NOT NULL
);
CREATE TABLE app.post_tags (post_id integer NOT NULL, name text NOT NULL, PRIMARY KEY (post_id, name));
CREATE TABLE app.post_likes (
    post_id integer NOT NULL,
    liked_by bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, liked_by)
);
CREATE TABLE app.user_follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE TABLE app.user_counters (
    user_id bigint PRIMARY KEY,
    post_count integer NOT NULL DEFAULT 0,
    like_count integer NOT NULL DEFAULT 0
);
CREATE TABLE app.notifications (
    user_id bigint NOT NULL,
    slot integer NOT NULL,
    payload jsonb NOT NULL,
    is_read boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, slot)
) PARTITION BY HASH (user_id);
CREATE TABLE app.notifications_0 PARTITION OF app.notifications FOR VALUES WITH (MODULUS 4, REMAINDER 0)
    WITH (fillfactor = 80);
CREATE TABLE app.notifications_1 PARTITION OF app.notifications FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE app.notifications_2 PARTITION OF app.notifications FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE app.notifications_3 PARTITION OF app.notifications FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- Sizes ---------------------------------------------------------------------------------------
SELECT greatest(100, (40000 * :scale)::int) AS n_users,
       greatest(1000, (640000 * :scale)::int) AS n_posts,
       greatest(100, (240000 * :scale)::int) AS n_notifications \gset

-- Vocabulary and sentences --------------------------------------------------------------------
CREATE TEMP TABLE vocab AS
SELECT w AS id,
       (SELECT string_agg(substr('etaoinshrdlcumwfgypbvkjxqz', 1 + (26 * random() ^ 1.6)::int % 26, 1), '')
        FROM generate_series(1, 2 + (9 * random())::int + w * 0)) AS word
FROM generate_series(1, 20000) w;
CREATE UNIQUE INDEX ON vocab (id);

-- Each pick is a correlated scalar subquery (an index lookup), never a join the planner could
-- turn into a hash of the whole table with a volatile key.
CREATE TEMP TABLE sentences AS
SELECT s AS id,
       (SELECT initcap(string_agg((SELECT word FROM vocab WHERE id = pick), ' '))
        FROM (SELECT 1 + (19999 * random() ^ 3)::int + s * 0 AS pick
              FROM generate_series(1, 4 + (s * 7919) % 17)) picks) AS body
FROM generate_series(1, 200000) s;
CREATE UNIQUE INDEX ON sentences (id);
ANALYZE vocab;
ANALYZE sentences;

-- Rows ------------------------------------------------------------------------------------------
INSERT INTO app.users (id, nickname, email, mood, introduction, avatar, password_hash, created_at, updated_at)
SELECT g,
       'user' || g,
       CASE WHEN g % 10 <> 0 THEN 'user' || g || '@example.com' END,
       (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::app.mood,
       (SELECT body FROM sentences WHERE id = 1 + ((g * 104729) % 200000)),
       CASE WHEN g % 50 = 0 THEN decode(md5(g::text) || md5((g + 1)::text), 'hex') END,
       md5('pw' || g),
       '2024-01-01'::timestamptz + (g * interval '17 minutes'),
       CASE WHEN g % 3 = 0 THEN '2026-01-01'::timestamptz + (g * interval '1 minute') END
FROM generate_series(1::bigint, :n_users) g;

INSERT INTO app.posts (id, owned_by, reply_to, content, status, score, created_at)
SELECT g,
       1 + (g * 7) % :n_users,
       CASE WHEN g % 5 = 0 AND g > 1 THEN g - 1 - (g % 13) % (g - 1) END,
       (SELECT string_agg((SELECT body FROM sentences WHERE id = pick), '. ') || '.'
        FROM (SELECT 1 + (199999 * random())::int + g * 0 AS pick
              FROM generate_series(1, 1 + (g * 31) % 12)) picks),
       CASE WHEN g % 9 = 0 THEN 'draft' ELSE 'public' END,
       round((random() * 1000)::numeric, 2),
       '2024-01-01'::timestamptz + (g * interval '41 seconds')
FROM generate_series(1::bigint, :n_posts) g;

INSERT INTO app.post_tags
SELECT DISTINCT p.id, 'tag' || ((p.id * k * 2654435761::bigint) % 500)
FROM app.posts p, generate_series(1, 1 + p.id % 3) k;

-- (post, k) -> a liker; distinct for k < 4 because the offsets k * n_users / 4 differ.
INSERT INTO app.post_likes
SELECT 1 + g % :n_posts,
       1 + ((g % :n_posts) * 31 + (g / :n_posts) * (:n_users / 4)) % :n_users,
       '2024-06-01'::timestamptz + (g * interval '3 seconds')
FROM generate_series(0::bigint, (:n_posts * 15) / 4 - 1) g;

-- (user, k) -> a followee; never the user itself, distinct for k < 10.
INSERT INTO app.user_follows
SELECT 1 + g % :n_users,
       1 + ((g % :n_users) + 1 + (g / :n_users) * 97 + ((g % :n_users) * 13) % 50) % :n_users,
       '2024-03-01'::timestamptz + (g * interval '11 seconds')
FROM generate_series(0::bigint, :n_users * 10 - 1) g;

INSERT INTO app.notifications (user_id, slot, payload, is_read, created_at)
SELECT 1 + g % :n_users,
       g / :n_users,
       jsonb_build_object('type', (ARRAY['like', 'reply', 'follow'])[1 + g % 3],
                          'post', 1 + (g * 13) % :n_posts,
                          'by', 1 + (g * 17) % :n_users,
                          'excerpt', (SELECT body FROM sentences WHERE id = 1 + ((g * 7907) % 200000))),
       g % 4 = 0,
       '2025-01-01'::timestamptz + (g * interval '29 seconds')
FROM generate_series(0::bigint, :n_notifications - 1) g;

INSERT INTO app.user_counters (user_id, post_count, like_count)
SELECT u.id, coalesce(p.n, 0), 0
FROM app.users u
LEFT JOIN (SELECT owned_by, count(*) AS n FROM app.posts GROUP BY owned_by) p ON p.owned_by = u.id;

-- Constraints, indexes, triggers (as STGY's schema has them) ------------------------------------
ALTER TABLE app.users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE app.posts ADD FOREIGN KEY (owned_by) REFERENCES app.users (id) ON DELETE CASCADE;
ALTER TABLE app.posts ADD FOREIGN KEY (reply_to) REFERENCES app.posts (id) ON DELETE SET NULL;
ALTER TABLE app.post_tags ADD FOREIGN KEY (post_id) REFERENCES app.posts (id) ON DELETE CASCADE;
ALTER TABLE app.post_likes ADD FOREIGN KEY (post_id) REFERENCES app.posts (id) ON DELETE CASCADE;
ALTER TABLE app.post_likes ADD FOREIGN KEY (liked_by) REFERENCES app.users (id) ON DELETE CASCADE;
ALTER TABLE app.user_follows ADD FOREIGN KEY (follower_id) REFERENCES app.users (id) ON DELETE CASCADE;
ALTER TABLE app.user_follows ADD FOREIGN KEY (followee_id) REFERENCES app.users (id) ON DELETE CASCADE;
ALTER TABLE app.user_counters ADD FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE;

CREATE INDEX users_nickname_lower_idx ON app.users (nickname_lower text_pattern_ops);
CREATE INDEX users_created_idx ON app.users (created_at DESC);
CREATE INDEX posts_owned_by_idx ON app.posts (owned_by, created_at);
CREATE INDEX posts_reply_to_idx ON app.posts (reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX posts_created_brin ON app.posts USING brin (created_at);
CREATE INDEX post_tags_name_idx ON app.post_tags (name, post_id);
CREATE INDEX post_likes_liked_by_idx ON app.post_likes (liked_by, created_at);
CREATE INDEX user_follows_followee_idx ON app.user_follows (followee_id);
CREATE INDEX notifications_created_idx ON app.notifications (user_id, created_at DESC);

CREATE FUNCTION app.count_posts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO app.user_counters (user_id, post_count) VALUES (NEW.owned_by, 1)
        ON CONFLICT (user_id) DO UPDATE SET post_count = app.user_counters.post_count + 1;
        RETURN NEW;
    END IF;
    UPDATE app.user_counters SET post_count = post_count - 1 WHERE user_id = OLD.owned_by;
    RETURN OLD;
END $$;
CREATE TRIGGER posts_count_insert AFTER INSERT ON app.posts FOR EACH ROW EXECUTE FUNCTION app.count_posts();
CREATE TRIGGER posts_count_delete AFTER DELETE ON app.posts FOR EACH ROW EXECUTE FUNCTION app.count_posts();

CREATE FUNCTION app.count_likes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app.user_counters SET like_count = like_count + CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END
    WHERE user_id = coalesce(NEW.liked_by, OLD.liked_by);
    RETURN NULL;
END $$;
CREATE TRIGGER post_likes_count AFTER INSERT OR DELETE ON app.post_likes FOR EACH ROW EXECUTE FUNCTION app.count_likes();

CREATE VIEW app.public_posts AS
    SELECT p.id, p.content, u.nickname FROM app.posts p JOIN app.users u ON u.id = p.owned_by
    WHERE p.status = 'public';

UPDATE app.user_counters c SET like_count = l.n
FROM (SELECT liked_by, count(*) AS n FROM app.post_likes GROUP BY liked_by) l
WHERE l.liked_by = c.user_id;

VACUUM (ANALYZE) app.users, app.posts, app.post_tags, app.post_likes, app.user_follows,
    app.user_counters, app.notifications;
