// A type-erased, move-only completion handler: what lets a coroutine wait for an answer that
// another strand produces (a Redis reply read by a connection, a batch's share of one), and
// be resumed on its own executor, never inside the producer's strand.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

namespace waitroom::store::redis {

template <class... Args>
class Completion {
 public:
  virtual ~Completion() = default;
  // Called once; destroying an uncalled completion destroys the waiting coroutine with it.
  virtual void complete(Args... args) = 0;
};

template <class Handler, class... Args>
class HandlerCompletion final : public Completion<Args...> {
 public:
  explicit HandlerCompletion(Handler handler) : handler_(std::move(handler)) {}
  void complete(Args... args) override {
    auto executor = boost::asio::get_associated_executor(handler_);
    boost::asio::post(executor,
                      [handler = std::move(handler_), ... args = std::move(args)]() mutable {
                        std::move(handler)(std::move(args)...);
                      });
  }

 private:
  Handler handler_;
};

template <class... Args, class Handler>
std::unique_ptr<Completion<Args...>> make_completion(Handler handler) {
  return std::make_unique<HandlerCompletion<Handler, Args...>>(std::move(handler));
}

}  // namespace waitroom::store::redis
