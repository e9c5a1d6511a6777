/*
 * tree.c - the mount's tree over a snapshot; see tree.h.
 */
#include "tree.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define SLOT_BITS 4
#define SLOT_DIR 0
/* Slots 1..SNAP_NFILES are the snapshot's files; the clock files follow. */
#define SLOT_CLOCK (SNAP_NFILES + 1)
/*
 * The root's versioned files: tokens.json, status and metrics.prom, told
 * apart by the two bits above the slot (ROOT_FILE_*), their version above.
 */
#define SLOT_ROOT_FILE 11
#define ROOT_FILE_BITS 2
enum { ROOT_FILE_LIST, ROOT_FILE_STATUS, ROOT_FILE_METRICS };
/* The folders of new/ and their files: the part in the two bits above the slot. */
#define SLOT_MINT 12
#define MINT_PART_BITS 2
#define SLOT_EXPIRING_LINK 13
#define SLOT_EXPIRED_LINK 14
#define SLOT_BYNAME_LINK 15

_Static_assert(SLOT_CLOCK + TREE_NCLOCK <= SLOT_ROOT_FILE, "too many files per token");

/* Bits of an inode number between the slot and the version: the ID plus 1. */
#define ID_BITS (64 - SLOT_BITS - SNAP_GEN_BITS)
#define ID_MASK ((UINT64_C(1) << ID_BITS) - 1)
_Static_assert((uint64_t)PAT_ID_MAX + 1 <= ID_MASK, "an ID would reach the version bits");

const char *const tree_clock_names[TREE_NCLOCK] = {
	[TREE_CLOCK_DAYS_LEFT] = "days_left",
	[TREE_CLOCK_EXPIRED] = "expired",
};

/* The root's entries after "." and "..", in listing order. */
static const struct {
	const char *name;
	uint64_t ino;
	enum tree_kind kind;
} root_entries[] = {
	{ "tokens", TREE_INO_TOKENS, TREE_TOKENS },
	{ "by-name", TREE_INO_BYNAME, TREE_BYNAME },
	{ "expiring", TREE_INO_EXPIRING, TREE_EXPIRING },
	{ "expired", TREE_INO_EXPIRED, TREE_EXPIRED },
	{ "new", TREE_INO_NEW, TREE_NEW },
	{ "tokens.json", TREE_INO_LIST, TREE_LIST },
	{ "metrics.prom", TREE_INO_METRICS, TREE_METRICS },
	{ "status", TREE_INO_STATUS, TREE_STATUS },
};
#define NROOT (sizeof(root_entries) / sizeof(root_entries[0]))

/* Files of a token folder after "." and "..": the snapshot's, then the clock's. */
#define NTOKEN_FILES (SNAP_NFILES + TREE_NCLOCK)

/* Does the node in this slot of a token hold a body, so that its number has a version? */
static bool slot_versioned(unsigned slot)
{
	return slot > SLOT_DIR && slot < SLOT_CLOCK + TREE_NCLOCK;
}

static uint64_t token_ino(const struct snap_token *t, unsigned slot)
{
	uint64_t gen = slot_versioned(slot) ? (uint64_t)t->gen << (SLOT_BITS + ID_BITS) : 0;

	return gen | ((uint64_t)(t->id + 1) << SLOT_BITS) | slot;
}

static uint64_t root_file_ino(unsigned which, uint64_t version)
{
	return (((version << ROOT_FILE_BITS) | which) << SLOT_BITS) | SLOT_ROOT_FILE;
}

/* Which of the root's versioned files ino is (ROOT_FILE_*), for a slot-11 number. */
static unsigned root_file_of(uint64_t ino)
{
	return (ino >> SLOT_BITS) & ((1u << ROOT_FILE_BITS) - 1);
}

uint64_t tree_list_ino(const struct snapshot *s)
{
	return s ? root_file_ino(ROOT_FILE_LIST, s->list_ver) : TREE_INO_LIST;
}

uint64_t tree_report_ino(enum tree_kind kind, uint64_t version)
{
	return root_file_ino(kind == TREE_STATUS ? ROOT_FILE_STATUS : ROOT_FILE_METRICS, version);
}

uint64_t tree_version_key(uint64_t ino)
{
	unsigned slot = ino & ((1u << SLOT_BITS) - 1);

	if (ino >= (1u << SLOT_BITS) && slot_versioned(slot))
		return ino & ~(uint64_t)((1u << SLOT_BITS) - 1);
	if (ino >= (1u << SLOT_BITS) && slot == SLOT_ROOT_FILE && root_file_of(ino) == ROOT_FILE_LIST)
		return ino;
	return 0;
}

bool tree_ino_in_tokens(uint64_t ino)
{
	return ino == TREE_INO_TOKENS ||
	       (ino >= (1u << SLOT_BITS) && (ino & ((1u << SLOT_BITS) - 1)) == SLOT_DIR);
}

static void fixed(struct tree_node *n, uint64_t ino, enum tree_kind kind)
{
	*n = (struct tree_node){ .ino = ino, .kind = kind };
}

void tree_mint_node(uint64_t seq, enum tree_mint_part part, struct tree_node *out)
{
	static const enum tree_kind kinds[] = {
		[TREE_MINT_FOLDER] = TREE_MINT_DIR,
		[TREE_MINT_SECRET] = TREE_MINT_FILE,
		[TREE_MINT_ID] = TREE_MINT_FILE,
		[TREE_MINT_TOKEN] = TREE_MINT_LINK,
	};

	*out = (struct tree_node){
		.ino = (((seq << MINT_PART_BITS) | part) << SLOT_BITS) | SLOT_MINT,
		.kind = kinds[part],
		.seq = seq,
		.part = part,
	};
}

static void token_node(struct tree_node *n, const struct snap_token *t, unsigned slot)
{
	*n = (struct tree_node){ .ino = token_ino(t, slot), .tok = t };
	if (slot == SLOT_DIR) {
		n->kind = TREE_TOKEN_DIR;
	} else if (slot == SLOT_BYNAME_LINK || slot == SLOT_EXPIRING_LINK ||
		   slot == SLOT_EXPIRED_LINK) {
		n->kind = TREE_TOKEN_LINK;
		n->view = slot == SLOT_BYNAME_LINK ? TREE_BYNAME :
			  slot == SLOT_EXPIRING_LINK ? TREE_EXPIRING : TREE_EXPIRED;
	} else if (slot >= SLOT_CLOCK) {
		n->kind = TREE_TOKEN_CLOCK;
		n->clock = (enum tree_clock_file)(slot - SLOT_CLOCK);
	} else {
		n->kind = TREE_TOKEN_FILE;
		n->file = (enum snap_file)(slot - 1);
	}
}

void tree_token_file(const struct snap_token *t, enum snap_file f, struct tree_node *out)
{
	token_node(out, t, (unsigned)f + 1);
}

void tree_token_clock(const struct snap_token *t, enum tree_clock_file c, struct tree_node *out)
{
	token_node(out, t, SLOT_CLOCK + (unsigned)c);
}

void tree_token_dir(const struct snap_token *t, struct tree_node *out)
{
	token_node(out, t, SLOT_DIR);
}

static bool slot_exists(unsigned slot)
{
	return slot < SLOT_CLOCK + TREE_NCLOCK || slot == SLOT_EXPIRING_LINK ||
	       slot == SLOT_EXPIRED_LINK || slot == SLOT_BYNAME_LINK;
}

bool tree_version_in(const struct snapshot *s, uint64_t key)
{
	unsigned slot = key & ((1u << SLOT_BITS) - 1);
	const struct snap_token *t;

	if (!s)
		return false;
	if (slot == SLOT_ROOT_FILE)
		return key == tree_list_ino(s);
	t = snap_find_id(s, (int64_t)((key >> SLOT_BITS) & ID_MASK) - 1);
	return t && t->gen == key >> (SLOT_BITS + ID_BITS);
}

/* The root's entry i as a node of s: tokens.json carries its version. */
static void root_node(const struct snapshot *s, size_t i, struct tree_node *out)
{
	fixed(out, root_entries[i].kind == TREE_LIST ? tree_list_ino(s) : root_entries[i].ino,
	      root_entries[i].kind);
}

bool tree_node(const struct snapshot *s, uint64_t ino, struct tree_node *out)
{
	const struct snap_token *t;
	unsigned slot = ino & ((1u << SLOT_BITS) - 1);

	if (ino == TREE_INO_ROOT) {
		fixed(out, ino, TREE_ROOT);
		return true;
	}
	for (size_t i = 0; i < NROOT; i++) {
		/* tokens.json is known by its versions' numbers only. */
		if (root_entries[i].ino == ino && root_entries[i].kind != TREE_LIST) {
			fixed(out, ino, root_entries[i].kind);
			return true;
		}
	}
	if (ino >= (1u << SLOT_BITS) && slot == SLOT_ROOT_FILE &&
	    root_file_of(ino) != ROOT_FILE_LIST) {
		/* An edition of a report: the FUSE layer knows which ones exist. */
		if (root_file_of(ino) > ROOT_FILE_METRICS)
			return false;
		fixed(out, ino, root_file_of(ino) == ROOT_FILE_STATUS ? TREE_STATUS : TREE_METRICS);
		return true;
	}
	if (ino >= (1u << SLOT_BITS) && slot == SLOT_MINT) {
		/* A folder of new/ or one of its files: minted.h knows which exist. */
		tree_mint_node(ino >> (SLOT_BITS + MINT_PART_BITS),
			       (enum tree_mint_part)((ino >> SLOT_BITS) & ((1u << MINT_PART_BITS) - 1)),
			       out);
		return out->seq != 0;
	}
	if (!s || ino < (1u << SLOT_BITS))
		return false;
	if (slot == SLOT_ROOT_FILE) {
		/* Only the version of tokens.json that s holds. */
		if (ino != tree_list_ino(s))
			return false;
		fixed(out, ino, TREE_LIST);
		return true;
	}
	if (!slot_exists(slot))
		return false;
	t = snap_find_id(s, (int64_t)((ino >> SLOT_BITS) & ID_MASK) - 1);
	if (!t)
		return false;
	token_node(out, t, slot);
	/* Another version of a file is not this snapshot's. */
	return out->ino == ino;
}

bool tree_parse_id(const char *name, int64_t *id)
{
	int64_t v = 0;

	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1]))
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9' || v > PAT_ID_MAX / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*id = v;
	return v <= PAT_ID_MAX;
}

/* Does t belong in view (expiring/ or expired/) at the moment clk? */
static bool in_view(const struct snap_token *t, enum tree_kind view,
		    const struct tree_clock *clk)
{
	struct timespec until = clk->now;

	if (!snap_expiry_known(t))
		return false;
	if (view == TREE_EXPIRED)
		return snap_expired(t, clk->now);
	if (snap_expired(t, clk->now))
		return false;
	/* Expiring: the expiry comes no later than expiring_days from now. */
	until.tv_sec += (time_t)clk->expiring_days * 86400;
	return snap_expired(t, until);
}

static unsigned link_slot(enum tree_kind view)
{
	return view == TREE_EXPIRING ? SLOT_EXPIRING_LINK :
	       view == TREE_EXPIRED ? SLOT_EXPIRED_LINK : SLOT_BYNAME_LINK;
}

void tree_token_link(const struct snap_token *t, enum tree_kind view, struct tree_node *out)
{
	token_node(out, t, link_slot(view));
}

enum tree_found tree_lookup(const struct snapshot *s, const struct tree_clock *clk,
			    const struct tree_node *parent, const char *name,
			    struct tree_node *out)
{
	const struct snap_token *t = NULL;
	int64_t id;

	switch (parent->kind) {
	case TREE_ROOT:
		for (size_t i = 0; i < NROOT; i++) {
			if (strcmp(name, root_entries[i].name) == 0) {
				root_node(s, i, out);
				return TREE_FOUND;
			}
		}
		return TREE_ABSENT;
	case TREE_TOKENS:
		if (s && tree_parse_id(name, &id))
			t = snap_find_id(s, id);
		if (!t)
			return TREE_ABSENT;
		token_node(out, t, SLOT_DIR);
		return TREE_FOUND;
	case TREE_BYNAME:
	case TREE_EXPIRING:
	case TREE_EXPIRED:
		if (s)
			t = snap_find_name(s, name);
		if (!t || (parent->kind != TREE_BYNAME && (!clk || !in_view(t, parent->kind, clk))))
			return TREE_ABSENT;
		token_node(out, t, link_slot(parent->kind));
		return TREE_FOUND;
	case TREE_TOKEN_DIR:
		for (unsigned f = 0; f < SNAP_NFILES; f++) {
			if (strcmp(name, snap_file_names[f]) == 0) {
				token_node(out, parent->tok, f + 1);
				return TREE_FOUND;
			}
		}
		for (unsigned c = 0; c < TREE_NCLOCK; c++) {
			if (strcmp(name, tree_clock_names[c]) == 0) {
				token_node(out, parent->tok, SLOT_CLOCK + c);
				return TREE_FOUND;
			}
		}
		return TREE_ABSENT;
	case TREE_NEW:
	case TREE_MINT_DIR:
		/* Their entries are minted.h's: the FUSE layer looks them up there. */
		return TREE_ABSENT;
	default:
		return TREE_NOT_DIR;
	}
}

bool tree_is_dir(const struct tree_node *n)
{
	return n->kind == TREE_ROOT || n->kind == TREE_TOKENS || n->kind == TREE_BYNAME ||
	       n->kind == TREE_EXPIRING || n->kind == TREE_EXPIRED ||
	       n->kind == TREE_TOKEN_DIR || n->kind == TREE_NEW || n->kind == TREE_MINT_DIR;
}

bool tree_is_dynamic(const struct tree_node *n)
{
	return n->kind == TREE_TOKEN_CLOCK || n->kind == TREE_METRICS || n->kind == TREE_STATUS;
}

const char *tree_body(const struct snapshot *s, const struct tree_node *n, size_t *len,
		      char **scratch, size_t *scratch_cap)
{
	if (n->kind == TREE_LIST && s) {
		*len = s->list_len;
		return s->list;
	}
	if (n->kind != TREE_TOKEN_FILE)
		return NULL;
	if (n->file == SNAP_F_JSON)
		return snap_token_json(s, n->tok, len, scratch, scratch_cap);
	return snap_body(s, n->tok, n->file, len);
}

size_t tree_body_len(const struct snapshot *s, const struct tree_node *n)
{
	if (n->kind == TREE_LIST && s)
		return s->list_len;
	if (n->kind == TREE_TOKEN_FILE)
		return n->tok->body_len[n->file];
	return 0;
}

size_t tree_readlink(const struct tree_node *n, char *buf, size_t cap)
{
	int len;

	if (n->kind != TREE_TOKEN_LINK)
		return 0;
	len = snprintf(buf, cap, "../tokens/%" PRId64, n->tok->id);
	return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

void tree_stat(const struct snapshot *s, const struct tree_node *n,
	       const struct tree_owner *own, struct timespec mount_time,
	       struct stat *st)
{
	struct timespec t = s ? s->fetched : mount_time;
	size_t len;
	char link[64];

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = own->uid;
	st->st_gid = own->gid;
	st->st_blksize = 4096;
	if (n->tok)
		t = n->tok->created;
	if (tree_is_dir(n)) {
		st->st_mode = S_IFDIR | (0555 & ~own->umask);
		if (own->manage && (n->kind == TREE_TOKENS || n->kind == TREE_NEW))
			st->st_mode |= S_IWUSR;
		st->st_nlink = 2;
		if (n->kind == TREE_ROOT)
			st->st_nlink = 7;
		else if (n->kind == TREE_TOKENS && s)
			st->st_nlink = 2 + s->n;
	} else if (n->kind == TREE_TOKEN_LINK) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)tree_readlink(n, link, sizeof(link));
	} else {
		st->st_mode = S_IFREG | (0444 & ~own->umask);
		st->st_nlink = 1;
		len = tree_body_len(s, n);
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
	}
	st->st_mtim = st->st_atim = st->st_ctim = t;
}

size_t tree_dir_count(const struct snapshot *s, const struct tree_node *dir)
{
	switch (dir->kind) {
	case TREE_ROOT:      return 2 + NROOT;
	case TREE_TOKENS:
	case TREE_BYNAME:    return 2 + (s ? s->n : 0);
	case TREE_EXPIRING:
	case TREE_EXPIRED:
	case TREE_NEW:       return 2;
	case TREE_TOKEN_DIR: return 2 + NTOKEN_FILES;
	default:             return 0;
	}
}

/* Entry tok[i] of tokens/: its folder, named by its ID in buf. */
static void token_folder_entry(const struct snapshot *s, size_t i, char *buf, const char **name,
			       struct tree_node *child)
{
	buf_i64(buf, s->tok[i].id);
	*name = buf;
	token_node(child, &s->tok[i], SLOT_DIR);
}

/* The folder that holds dir. */
static void parent_of(const struct tree_node *dir, struct tree_node *out)
{
	if (dir->kind == TREE_TOKEN_DIR)
		fixed(out, TREE_INO_TOKENS, TREE_TOKENS);
	else if (dir->kind == TREE_MINT_DIR)
		fixed(out, TREE_INO_NEW, TREE_NEW);
	else
		fixed(out, TREE_INO_ROOT, TREE_ROOT);
}

bool tree_dir_entry(const struct snapshot *s, const struct tree_node *dir, size_t i,
		    char *buf, const char **name, struct tree_node *child)
{
	if (i >= tree_dir_count(s, dir))
		return false;
	if (i == 0) {
		*name = ".";
		*child = *dir;
		return true;
	}
	if (i == 1) {
		*name = "..";
		parent_of(dir, child);
		return true;
	}
	i -= 2;
	switch (dir->kind) {
	case TREE_ROOT:
		*name = root_entries[i].name;
		root_node(s, i, child);
		return true;
	case TREE_TOKENS:
		token_folder_entry(s, i, buf, name, child);
		return true;
	case TREE_BYNAME:
		tree_view_entry(s, dir, s->by_name[i], name, child);
		return true;
	case TREE_TOKEN_DIR:
		if (i < SNAP_NFILES) {
			*name = snap_file_names[i];
			token_node(child, dir->tok, (unsigned)i + 1);
		} else {
			*name = tree_clock_names[i - SNAP_NFILES];
			token_node(child, dir->tok, SLOT_CLOCK + (unsigned)(i - SNAP_NFILES));
		}
		return true;
	default:
		return false;
	}
}

bool tree_dir_keyed(const struct tree_node *dir)
{
	return dir->kind == TREE_TOKENS || dir->kind == TREE_BYNAME ||
	       dir->kind == TREE_EXPIRING || dir->kind == TREE_EXPIRED;
}

bool tree_dir_next(const struct snapshot *s, const struct tree_clock *clk,
		   const struct tree_node *dir, uint64_t *pos, char *buf,
		   const char **name, struct tree_node *child)
{
	if (!tree_dir_keyed(dir) || *pos < 2) {
		if (!tree_dir_entry(s, dir, (size_t)*pos, buf, name, child))
			return false;
		(*pos)++;
		return true;
	}
	if (!s)
		return false;
	for (size_t i = snap_first_id_from(s, (int64_t)(*pos - 2)); i < s->n; i++) {
		if (dir->kind == TREE_TOKENS)
			token_folder_entry(s, i, buf, name, child);
		else if (dir->kind == TREE_BYNAME || in_view(&s->tok[i], dir->kind, clk))
			tree_view_entry(s, dir, (uint32_t)i, name, child);
		else
			continue;
		*pos = (uint64_t)s->tok[i].id + 3;
		return true;
	}
	return false;
}

/* Where the tag of a listing offset starts (tree.h). */
#define TAG_SHIFT 54
#define POS_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)
_Static_assert(TREE_POS_LIMIT <= UINT64_C(1) << TAG_SHIFT, "a tag would overlap an ID");

/* The tag of s in the offsets of a keyed listing; 0 for no snapshot. */
static uint64_t cursor_tag(const struct snapshot *s)
{
	return s ? s->serial & ((UINT64_C(1) << (63 - TAG_SHIFT)) - 1) : 0;
}

bool tree_cursor_in(const struct snapshot *s, const struct tree_node *dir, uint64_t off)
{
	return !tree_dir_keyed(dir) || off < 3 || off >> TAG_SHIFT == cursor_tag(s);
}

void tree_cursor_open(struct tree_cursor *cur, const struct snapshot *s,
		      const struct tree_clock *clk, const struct tree_node *dir, uint64_t off)
{
	bool keyed = tree_dir_keyed(dir);

	*cur = (struct tree_cursor){
		.s = s,
		.clk = clk,
		.dir = *dir,
		.pos = keyed ? off & POS_MASK : off,
		.tag = keyed ? cursor_tag(s) << TAG_SHIFT : 0,
	};
}

bool tree_cursor_next(struct tree_cursor *cur, char *buf, const char **name,
		      struct tree_node *child, uint64_t *off)
{
	if (!tree_dir_next(cur->s, cur->clk, &cur->dir, &cur->pos, buf, name, child))
		return false;
	*off = cur->pos < 3 ? cur->pos : cur->pos | cur->tag;
	return true;
}

static void latest(struct timespec *since, struct timespec t)
{
	if (t.tv_sec > since->tv_sec || (t.tv_sec == since->tv_sec && t.tv_nsec > since->tv_nsec))
		*since = t;
}

static void earliest(struct timespec *until, bool *any, struct timespec t)
{
	if (!*any || t.tv_sec < until->tv_sec ||
	    (t.tv_sec == until->tv_sec && t.tv_nsec < until->tv_nsec))
		*until = t;
	*any = true;
}

bool tree_view_span(const struct snapshot *s, const struct tree_clock *clk,
		    const struct tree_node *view, struct timespec *since,
		    struct timespec *until)
{
	time_t window = (time_t)clk->expiring_days * 86400;
	bool any = false;

	if (!s) {
		*since = (struct timespec){ 0, 0 };
		return false;
	}
	*since = s->fetched;
	for (size_t i = 0; i < s->n; i++) {
		/* A token enters expiring/ at E - window and leaves at E for expired/. */
		struct timespec bounds[2] = { s->tok[i].expires, s->tok[i].expires };
		size_t nb = view->kind == TREE_EXPIRING ? 2 : 1;

		if (!snap_expiry_known(&s->tok[i]))
			continue; /* in no view, ever */
		bounds[1].tv_sec -= window;
		for (size_t b = 0; b < nb; b++) {
			if (snap_expired(&(struct snap_token){ .expires = bounds[b] }, clk->now))
				latest(since, bounds[b]);
			else
				earliest(until, &any, bounds[b]);
		}
	}
	return any;
}

size_t tree_view_members(const struct snapshot *s, const struct tree_clock *clk,
			 const struct tree_node *view, uint32_t *out)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t idx = s->by_name[i];

		if (view->kind == TREE_BYNAME || in_view(&s->tok[idx], view->kind, clk))
			out[n++] = idx;
	}
	return n;
}

void tree_view_entry(const struct snapshot *s, const struct tree_node *view, uint32_t idx,
		     const char **name, struct tree_node *child)
{
	token_node(child, &s->tok[idx], link_slot(view->kind));
	*name = snap_link_name(s, child->tok);
}
