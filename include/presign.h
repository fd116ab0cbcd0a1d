/*
 * `bucketfs presign TARGET [--put] [--expires DURATION] [-o OPTIONS]`:
 * print a URL that lets anyone GET (or PUT) one object for a while.
 *
 * TARGET is a file in a bucketfs mount, whose daemon signs the URL with
 * its own credentials (asked through the xattr
 * user.bucketfs.presign.{get,put}.SECONDS, see fs.c), or an s3://BUCKET/KEY
 * or az://CONTAINER/BLOB URL, signed here with the credentials a mount of
 * it would use (-o takes the mount options that say where and how).
 */
#ifndef BUCKETFS_PRESIGN_H
#define BUCKETFS_PRESIGN_H

/* The xattr a mount answers with a URL: PREFIX "get." or "put." SECONDS. */
#define PRESIGN_XATTR_PREFIX "user.bucketfs.presign."
/* The xattr every file answers with a GET URL valid for url_expires=. */
#define PRESIGN_URL_XATTR "user.bucketfs.url"

/* argv[0] is "presign". Returns the exit status. */
int presign_main(int argc, char **argv);

#endif
