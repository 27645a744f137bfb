// LocalObjectStore: an ObjectStore in a directory of an io::Filesystem. The embedded default
// deployment and most tests use it (on PosixFs, or on MemFs to test crashes).
//
// Layout under the root directory:
//   objects/<escaped key>          one file per object; see escape_key() in store_util.h ('/'
//                                  and other bytes outside [A-Za-z0-9._-] become %XX), so the
//                                  directory is flat and a key's file name is at most 255 bytes
//                                  (longer keys are rejected with kInvalidArgument).
//   tmp/<instance>-<n>.tmp         objects being written; never visible to get/head/list.
//   multipart/<upload id>/key      the key an upload was begun for
//   multipart/<upload id>/part-<NNNNN>  uploaded parts, assembled in number order on complete.
//
// Durability: put() writes a temp file, syncs it, renames it into objects/ and syncs objects/;
// when it returns OK the object survives a crash. put() then drops the object's pages from the
// page cache (File::drop_cache). A crash or error earlier leaves at most a
// temp file (invisible), never a partial object. if_none_match uses rename_noreplace(), so two
// racing conditional puts of one key have exactly one winner (capabilities().conditional_put).
// Temp files orphaned by a crash stay in tmp/ (several processes may share one root, so none
// removes another's temp files); remove_orphaned_temp_files() deletes them when it is safe.
// list() is O(number of objects) per page (it reads the flat directory); head() reads the
// object to compute its etag (CRC-32C); list() leaves etag empty.
//
// Ownership: borrows the Filesystem, which must outlive the store.
// Thread-safety: every method is thread-safe; a root may be shared by several processes.
#pragma once

#include <atomic>
#include <memory>
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
  std::string new_temp_path();
  Result<std::string> upload_dir(const std::string& key, const std::string& upload_id);
  // Renames a synced temp file into objects/ and makes the entry durable.
  Status publish(const std::string& tmp, const std::string& final_path, bool noreplace);

  io::Filesystem& fs_;
  const std::string root_;
  const std::string objects_dir_, tmp_dir_, multipart_dir_;
  const std::string instance_;  // random, names this instance's temp files and uploads
  std::atomic<uint64_t> seq_{0};
};

}  // namespace shale::objstore
