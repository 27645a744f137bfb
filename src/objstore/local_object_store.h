// LocalObjectStore: an ObjectStore in a directory of an io::Filesystem. The embedded default
// deployment and most tests use it (on PosixFs, or on MemFs to test crashes).
//
// Layout under the root directory:
//   objects/<tree path>            one file per object, in a directory tree that mirrors the key's
//                                  '/'-separated components (local_object_path() in store_util.h:
//                                  key "s/7/0001.obj" -> objects/s%2F/7%2F/0001.obj; bytes outside
//                                  [A-Za-z0-9._-] become %XX). Each component's file name is at
//                                  most 255 bytes (longer: kInvalidArgument).
//   tmp/<instance>-<n>.tmp         objects being written; never visible to get/head/list.
//   multipart/<upload id>/key      the key an upload was begun for
//   multipart/<upload id>/part-<NNNNN>  uploaded parts, assembled in number order on complete.
// Before the tree layout, objects/ was flat (objects/s%2F7%2F0001.obj); open() moves such files
// into the tree (an atomic rename each, so a crash mid-way leaves every object readable at one of
// the two places and the next open() finishes the move). Old flat objects whose key ends in '/'
// are not moved (Shale never writes such keys).
//
// Durability: put() writes a temp file, syncs it, renames it into its directory and syncs that
// directory (a new directory's entry is synced into its parent first); when it returns OK the
// object survives a crash. put() then drops the object's pages from the page cache
// (File::drop_cache). A crash or error earlier leaves at most a temp file (invisible), never
// a partial object. if_none_match uses rename_noreplace(), so two racing conditional puts of one
// key have exactly one winner (capabilities().conditional_put). Temp files orphaned by a crash
// stay in tmp/ (several processes may share one root, so none removes another's temp files);
// remove_orphaned_temp_files() deletes them when it is safe. remove() leaves emptied directories
// in place (removing them would race with a put into them); list() skips them.
// Cost: head() is a stat (open + size; it reports no etag, and neither does list()). list() reads
// only the directories below the prefix's last '/', in key order, and stops once the page is
// full: O(page + entries of the visited directories), not O(all objects).
//
// Ownership: borrows the Filesystem, which must outlive the store.
// Thread-safety: every method is thread-safe; a root may be shared by several processes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "io/fs.h"
#include "objstore/object_store.h"

namespace shale::objstore {

class LocalObjectStore final : public ObjectStore {
 public:
  // Creates the layout directories under root if missing (durably).
  static Result<std::unique_ptr<LocalObjectStore>> open(io::Filesystem& fs, std::string root);

  Capabilities capabilities() const override { return {.conditional_put = true}; }
  using ObjectStore::put;
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const PutOptions& opts = {}) override;
  Result<GetResult> get(const std::string& key, const ByteRange& range = {}) override;
  Result<ObjectInfo> head(const std::string& key) override;
  Result<ListPage> list(const std::string& prefix, const std::string& start_token = {},
                        size_t max_keys = 1000) override;
  Status remove(const std::vector<std::string>& keys) override;
  Result<std::string> begin_multipart(const std::string& key) override;
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     const Buf& data) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            int part_count) override;
  Status abort_multipart(const std::string& key, const std::string& upload_id) override;

  // Deletes every file in tmp/. Only safe when no other process writes to this root.
  Status remove_orphaned_temp_files();

  const std::string& root() const { return root_; }

 private:
  LocalObjectStore(io::Filesystem& fs, std::string root);
  Result<std::string> object_path(const std::string& key) const;
  struct OpenObject {
    std::unique_ptr<io::File> file;
    uint64_t size = 0;
  };
  // Opens an object for reading; kNotFound names the key.
  Result<OpenObject> open_object(const std::string& key);
  // Creates the directories of an object's path and makes each entry durable (once per process).
  Status ensure_parent(const std::string& path);
  struct ListQuery;
  // Appends the keys of the directory `dir` (whose keys start with key_prefix) to the query's
  // page, in key order.
  Status walk(const std::string& dir, const std::string& key_prefix, ListQuery& q);
  // Moves objects of the old flat layout into the tree (see the file comment).
  Status migrate_flat_layout();
  std::string new_temp_path();
  Result<std::string> upload_dir(const std::string& key, const std::string& upload_id);
  // Renames a synced temp file into objects/ and makes the entry durable.
  Status publish(const std::string& tmp, const std::string& final_path, bool noreplace);

  io::Filesystem& fs_;
  const std::string root_;
  const std::string objects_dir_, tmp_dir_, multipart_dir_;
  const std::string instance_;  // random, names this instance's temp files and uploads
  std::atomic<uint64_t> seq_{0};
  std::mutex dirs_mu_;
  std::set<std::string> durable_dirs_;  // object directories known to exist durably
};

}  // namespace shale::objstore
