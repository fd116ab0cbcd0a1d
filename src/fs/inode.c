#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *inode_hkey(fuse_ino_t parent, const char *name)
{
	struct buf b;

	buf_init(&b, 8192);
	if (buf_printf(&b, "%lu/%s", (unsigned long)parent, name)) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

int inode_table_init(struct inode_table *t)
{
	struct inode *root = calloc(1, sizeof(*root));

	memset(t, 0, sizeof(*t));
	if (!root)
		return -ENOMEM;
	root->ino = FUSE_ROOT_ID;
	root->name = strdup("");
	if (!root->name) {
		free(root);
		return -ENOMEM;
	}
	root->nlookup = 1; /* never forgotten */
	root->mode = S_IFDIR | 0755;
	HASH_ADD(hh, t->by_ino, ino, sizeof(root->ino), root);
	t->root = root;
	t->next_ino = FUSE_ROOT_ID + 1;
	return 0;
}

static void inode_free(struct inode *i)
{
	free(i->name);
	free(i->hkey);
	free(i);
}

void inode_table_free(struct inode_table *t)
{
	struct inode *i, *tmp;

	HASH_ITER(hh, t->by_ino, i, tmp)
	{
		if (i->hashed)
			HASH_DELETE(hh_name, t->by_name, i);
		HASH_DELETE(hh, t->by_ino, i);
		inode_free(i);
	}
}

struct inode *inode_get(struct inode_table *t, fuse_ino_t ino)
{
	struct inode *i;

	HASH_FIND(hh, t->by_ino, &ino, sizeof(ino), i);
	return i;
}

struct inode *inode_find(struct inode_table *t, struct inode *parent, const char *name)
{
	struct inode *i;
	char *k = inode_hkey(parent->ino, name);

	if (!k)
		return NULL;
	HASH_FIND(hh_name, t->by_name, k, strlen(k), i);
	free(k);
	return i;
}

struct inode *inode_obtain(struct inode_table *t, struct inode *parent, const char *name)
{
	struct inode *i = inode_find(t, parent, name);

	if (i)
		return i;
	i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->name = strdup(name);
	i->hkey = inode_hkey(parent->ino, name);
	if (!i->name || !i->hkey) {
		inode_free(i);
		return NULL;
	}
	i->ino = t->next_ino++;
	i->parent = parent;
	parent->children++;
	i->hashed = true;
	HASH_ADD(hh, t->by_ino, ino, sizeof(i->ino), i);
	HASH_ADD_KEYPTR(hh_name, t->by_name, i->hkey, strlen(i->hkey), i);
	return i;
}

void inode_unhash(struct inode_table *t, struct inode *i)
{
	if (!i->hashed)
		return;
	HASH_DELETE(hh_name, t->by_name, i);
	i->hashed = false;
}

int inode_move(struct inode_table *t, struct inode *i, struct inode *parent, const char *name)
{
	char *n = strdup(name);
	char *k = inode_hkey(parent->ino, name);
	struct inode *old_parent = i->parent;

	if (!n || !k) {
		free(n);
		free(k);
		return -ENOMEM;
	}
	inode_unhash(t, i);
	free(i->name);
	free(i->hkey);
	i->name = n;
	i->hkey = k;
	parent->children++;
	i->parent = parent;
	i->hashed = true;
	HASH_ADD_KEYPTR(hh_name, t->by_name, i->hkey, strlen(i->hkey), i);
	old_parent->children--;
	inode_maybe_free(t, old_parent);
	return 0;
}

void inode_maybe_free(struct inode_table *t, struct inode *i)
{
	while (i && i != t->root && i->nlookup == 0 && i->open_count == 0 && i->children == 0 &&
	       !i->file) {
		struct inode *parent = i->parent;

		inode_unhash(t, i);
		HASH_DELETE(hh, t->by_ino, i);
		inode_free(i);
		parent->children--;
		i = parent;
	}
}

static int inode_path(const struct inode *i, struct buf *out)
{
	int rc;

	if (!i->parent)
		return 0;
	rc = inode_path(i->parent, out);
	if (!rc && i->parent->parent)
		rc = buf_puts(out, "/");
	if (!rc)
		rc = buf_puts(out, i->name);
	return rc;
}

int inode_key(const struct inode *i, const char *prefix, struct buf *out)
{
	int rc = buf_puts(out, prefix);

	return rc ? rc : inode_path(i, out);
}

int inode_dir_key(const struct inode *i, const char *prefix, struct buf *out)
{
	int rc = inode_key(i, prefix, out);

	if (!rc && i->parent)
		rc = buf_puts(out, "/");
	return rc;
}

bool inode_is_under(const struct inode *i, const struct inode *anc)
{
	for (; i; i = i->parent)
		if (i == anc)
			return true;
	return false;
}
